"""``hpcpolicy db check``: the running totals against the charges and the open liens, a tampered total found,
``--repair``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import update
from typer.testing import CliRunner

from hpcpolicy.cli.main import app
from hpcpolicy.engine import Amounts
from hpcpolicy.ledger.model import Charge, Lien
from hpcpolicy.ledger.sql.connect import create_ledger_engine, sqlite_url
from hpcpolicy.ledger.sql.ledger import SqlLedger
from hpcpolicy.ledger.sql.migrate import upgrade
from hpcpolicy.ledger.sql.tables import held_totals, usage_buckets
from tests.cli.conftest import clean_service_env

AT = datetime(2026, 11, 3, 9, 30, tzinfo=UTC)


def test_check_passes_then_finds_a_tampered_total_and_repair_rewrites_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clean_service_env(monkeypatch)
    state = tmp_path / "state"
    engine = create_ledger_engine(sqlite_url(state))
    upgrade(engine)
    with SqlLedger(engine).session() as tx:
        tx.add_charge(Charge("c1", None, "7", "alice", "wgs", "genomics", "bio", "helix", "gpu", Amounts(4.0, 2.0, 6.5),
                             AT, "finish", "k1", "a100"))  # fmt: skip
    run = ["db", "check", "--data-dir", str(state)]
    done = CliRunner().invoke(app, run)
    assert done.exit_code == 0, done.stderr
    assert "running totals agree with the ledger" in done.stdout
    with engine.begin() as conn:
        conn.execute(update(usage_buckets).where(usage_buckets.c.scope == "team:genomics",
                                                 usage_buckets.c.grain == "month").values(cost=1e308))  # fmt: skip
    done = CliRunner().invoke(app, run)
    assert done.exit_code == 1
    assert "team:genomics month 2026-11-01 slice helix/gpu/a100: stored cpu_hours=4.0 gpu_hours=2.0 cost=1e+308" \
        in done.stdout  # fmt: skip
    assert "charges say cpu_hours=4.0 gpu_hours=2.0 cost=6.5 charges=1" in done.stdout
    assert "1 running totals differ from the ledger" in done.stderr
    done = CliRunner().invoke(app, [*run, "--repair"])
    assert done.exit_code == 0 and "1 running totals differed from the ledger: rewritten" in done.stdout
    assert CliRunner().invoke(app, run).exit_code == 0
    engine.dispose()


def test_check_finds_an_open_liens_total_tampered_with(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    clean_service_env(monkeypatch)
    state = tmp_path / "state"
    engine = create_ledger_engine(sqlite_url(state))
    upgrade(engine)
    with SqlLedger(engine).session() as tx:
        tx.add_lien(Lien("l1", "d1", "alice", "wgs", "genomics", "bio", "helix", "gpu", 8, 2, "a100", 64.0, 1, 2.0,
                         Amounts(16.0, 4.0, 9.0), (1.0, 2.0, 0.0), AT, AT + timedelta(hours=24)))  # fmt: skip
    run = ["db", "check", "--data-dir", str(state)]
    assert CliRunner().invoke(app, run).exit_code == 0
    with engine.begin() as conn:
        conn.execute(update(held_totals).where(held_totals.c.scope == "org:bio").values(jobs=0, gpu_hours=0.0))
    done = CliRunner().invoke(app, run)
    assert done.exit_code == 1
    assert "org:bio open liens, slice helix/gpu/a100: stored cpu_hours=16.0 gpu_hours=0.0 cost=9.0 jobs=0 gpus=2, " \
        "liens say cpu_hours=16.0 gpu_hours=4.0 cost=9.0 jobs=1 gpus=2" in done.stdout  # fmt: skip
    assert CliRunner().invoke(app, [*run, "--repair"]).exit_code == 0
    assert CliRunner().invoke(app, run).exit_code == 0
    engine.dispose()


def test_check_of_a_ledger_not_migrated_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    clean_service_env(monkeypatch)
    engine = create_ledger_engine(sqlite_url(tmp_path / "state"))
    upgrade(engine, "0008")
    engine.dispose()
    done = CliRunner().invoke(app, ["db", "check", "--data-dir", str(tmp_path / "state")])
    assert done.exit_code == 1 and "not at the current revision: run hpcpolicy db upgrade" in done.stderr


def test_check_of_an_unreachable_database_fails_clearly(monkeypatch: pytest.MonkeyPatch) -> None:
    clean_service_env(monkeypatch)
    done = CliRunner().invoke(app, ["db", "check", "--database-url",
                                    "postgresql+psycopg://nobody:secret@127.0.0.1:9/nothing"])  # fmt: skip
    assert done.exit_code == 1 and "cannot check the ledger" in done.stderr and "secret" not in done.stderr
