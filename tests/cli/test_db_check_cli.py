"""``hpcpolicy db check``: the running totals against the charges, a tampered total found, ``--repair``."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import update
from typer.testing import CliRunner

from hpcpolicy.cli.main import app
from hpcpolicy.engine import Amounts
from hpcpolicy.ledger.model import Charge
from hpcpolicy.ledger.sql.connect import create_ledger_engine, sqlite_url
from hpcpolicy.ledger.sql.ledger import SqlLedger
from hpcpolicy.ledger.sql.migrate import upgrade
from hpcpolicy.ledger.sql.tables import usage_buckets
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
    assert "running totals agree with the charges" in done.stdout
    with engine.begin() as conn:
        conn.execute(update(usage_buckets).where(usage_buckets.c.scope == "team:genomics",
                                                 usage_buckets.c.grain == "month").values(cost=1e308))  # fmt: skip
    done = CliRunner().invoke(app, run)
    assert done.exit_code == 1
    assert "team:genomics month 2026-11-01 slice helix/gpu/a100: stored cpu_hours=4.0 gpu_hours=2.0 cost=1e+308" \
        in done.stdout  # fmt: skip
    assert "charges say cpu_hours=4.0 gpu_hours=2.0 cost=6.5 charges=1" in done.stdout
    assert "1 running totals differ from the charges" in done.stderr
    done = CliRunner().invoke(app, [*run, "--repair"])
    assert done.exit_code == 0 and "1 running totals differed from the charges: rewritten" in done.stdout
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
