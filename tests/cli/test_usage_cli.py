"""``hpcpolicy usage``: readable at 80 columns, and a scope without quotas shows its totals (exit 0)."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from hpcpolicy.cli import render
from hpcpolicy.cli.main import app
from hpcpolicy.engine import Request
from hpcpolicy.ledger.memory import MemoryLedger
from hpcpolicy.service import Governance, PolicyStore
from hpcpolicy.service.context import Context
from tests.builders import EXAMPLE_V1
from tests.cli.conftest import clean_service_env

NOW = datetime(2026, 11, 15, 12, 0, tzinfo=UTC)


@pytest.fixture
def gov() -> Governance:
    store = PolicyStore.from_file(None, env={})
    return Governance(Context(MemoryLedger(), store, clock=lambda: NOW, lien_ttl=timedelta(hours=2)))


def printed(draw: object, *args: object) -> list[str]:
    console = Console(width=80, file=io.StringIO(), highlight=False, color_system=None)
    draw(console, *args)  # type: ignore[operator]
    return console.file.getvalue().splitlines()  # type: ignore[attr-defined]


def test_every_quota_of_the_example_reads_whole_at_80_columns(gov: Governance) -> None:
    gov.decide(Request(user_id="carol", partition="dgx-a100", gpus=8, walltime_hours=2), "t", reserve=True)
    snap = gov.ctx.policies.current.snapshot
    for scope, refs in snap.scope_quotas.items():
        lines = printed(render.balances, scope, gov.accounts.balances(scope))
        assert all(len(line) <= 80 for line in lines), scope
        assert "…" not in "\n".join(lines)
        for ref in refs:
            assert ref.id in lines  # the id on its own line, whole
    lines = printed(render.balances, "project:protein-lm", gov.accounts.balances("project:protein-lm"))
    assert lines[lines.index("project:protein-lm#grant") + 1].startswith("window: 2026-01-01..2027-07-01 (")
    [gpus] = [line for line in lines if line.startswith("gpus now")]
    assert gpus.split() == ["gpus", "now", "64", "0", "8", "56"]


def test_totals_of_a_scope_without_quotas(gov: Governance) -> None:
    gov.decide(Request(user_id="alice", partition="cpu", cpus=4, walltime_hours=2), "t", reserve=True)
    lines = printed(render.totals, gov.accounts.totals("user:alice"))
    assert lines[0] == "user:alice has no quotas in the policy (nothing limits it); its totals:"
    assert lines[1].startswith("charged: monthly (2026-11-01 00:00 to 2026-12-01 00:00 UTC)")
    assert [line.split() for line in lines if line.startswith(("cpu_hours", "jobs"))] == [
        ["cpu_hours", "0.00", "8.00"],
        ["jobs", "now", "1"],
    ]


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    clean_service_env(monkeypatch)
    monkeypatch.chdir(tmp_path)
    assert CliRunner().invoke(app, ["db", "upgrade", "--data-dir", "state"]).exit_code == 0
    yield tmp_path / "state"


def test_usage_of_a_listed_user_without_quotas_exits_0_with_totals(data_dir: Path) -> None:
    v1 = ["--policy", str(EXAMPLE_V1)]  # in the v2 example, every user has the DGX's per-user cap
    done = CliRunner().invoke(app, ["usage", "user:alice", "--data-dir", str(data_dir), *v1])
    assert done.exit_code == 0, done.stderr
    assert "user:alice has no quotas in the policy" in done.stdout and "cpu_hours" in done.stdout
    as_json = CliRunner().invoke(app, ["usage", "user:alice", "--data-dir", str(data_dir), "--json", *v1])
    body = json.loads(as_json.stdout)
    assert body["balances"] == [] and body["totals"]["reserved"] == {
        "cpu_hours": 0.0, "gpu_hours": 0.0, "cost": 0.0, "jobs": 0, "gpus": 0
    }  # fmt: skip
    unknown = CliRunner().invoke(app, ["usage", "project:nope", "--data-dir", str(data_dir)])
    assert unknown.exit_code == 1 and "project:nope is not in the policy" in unknown.stderr
