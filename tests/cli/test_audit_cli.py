"""``hpcpolicy audit seal|verify`` on the embedded SQLite ledger: decisions made through the service leave
events that seal into a chain; an edited event makes ``verify`` exit 1 naming it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from hpcpolicy.cli.main import app
from hpcpolicy.cli.service_cmds import governance_from, settings_from
from hpcpolicy.engine import Request
from tests.cli.conftest import clean_service_env


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    clean_service_env(monkeypatch)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HPCPOLICY_AUDIT_LOG", "true")
    yield tmp_path / "state"


def run(*args: str) -> tuple[int, str, str]:
    done = CliRunner().invoke(app, list(args))
    return done.exit_code, done.stdout, done.stderr


def test_decisions_seal_into_a_chain_that_verify_checks(data_dir: Path) -> None:
    gov = governance_from(settings_from(data_dir=data_dir), distribute=False)
    for cpus in (1, 2, 3):
        outcome = gov.decide(Request(user_id="alice", partition="cpu", cpus=cpus), "key:gw", reserve=True)
        assert outcome.decision["allow"]
    assert run("audit", "verify", "--data-dir", str(data_dir))[1].strip() == (
        "ok: 0 event(s) from seq 1 chain; 6 not sealed yet"
    )  # a decision and its lien each
    assert run("audit", "seal", "--data-dir", str(data_dir)) == (0, "sealed 6 event(s)\n", "")
    code, out, _ = run("audit", "verify", "--data-dir", str(data_dir))
    assert code == 0 and "ok: 6 event(s) from seq 1 chain; 0 not sealed yet" in out
    with gov.ctx.ledger.engine.begin() as conn:  # type: ignore[attr-defined]
        conn.execute(text("UPDATE events SET actor = 'user:mallory' WHERE seq = 3"))
    code, _, err = run("audit", "verify", "--data-dir", str(data_dir))
    assert code == 1 and "audit chain broken after 2 good event(s): event 3: edited" in " ".join(err.split())


def test_keys_created_and_revoked_on_the_command_line_are_audited(data_dir: Path) -> None:
    code, key, _ = run("keys", "create", "gateway", "--data-dir", str(data_dir))
    assert code == 0 and key.strip()
    assert run("keys", "revoke", "gateway", "--data-dir", str(data_dir))[0] == 0
    assert run("audit", "seal", "--data-dir", str(data_dir)) == (0, "sealed 2 event(s)\n", "")
    gov = governance_from(settings_from(data_dir=data_dir), distribute=False)
    kinds = [(e.type, e.actor.startswith("local:")) for e in gov.ctx.ledger.events(0, 10)]  # type: ignore[union-attr]
    assert kinds == [("hpcpolicy.key.created", True), ("hpcpolicy.key.revoked", True)]
