"""Ledgers under test: every contract test runs on the in-memory ledger, SQLite, PostgreSQL and MariaDB
(the server engines are session fixtures of tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from hpcpolicy.ledger.memory import MemoryLedger
from hpcpolicy.ledger.sql.connect import create_ledger_engine
from hpcpolicy.ledger.sql.ledger import SqlLedger
from hpcpolicy.ledger.sql.migrate import upgrade
from tests.dbservers import truncate


def sqlite_ledger(path: Path) -> SqlLedger:
    engine = create_ledger_engine(f"sqlite:///{path / 'ledger.db'}")
    upgrade(engine)
    return SqlLedger(engine)


@pytest.fixture(params=["memory", "sqlite", "postgresql", "mariadb"])
def ledger(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[object]:
    if request.param == "memory":
        yield MemoryLedger()
    elif request.param == "sqlite":
        sql = sqlite_ledger(tmp_path)
        yield sql
        sql.engine.dispose()
    else:
        engine = request.getfixturevalue(f"{request.param}_engine")
        truncate(engine)
        yield SqlLedger(engine)
