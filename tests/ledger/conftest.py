"""Ledgers under test: every contract test runs on the in-memory ledger, SQLite, PostgreSQL and MariaDB
(the server engines are session fixtures of tests/conftest.py)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from hpcpolicy.engine import Amounts
from hpcpolicy.ledger.memory import MemoryLedger
from hpcpolicy.ledger.sql.connect import create_ledger_engine
from hpcpolicy.ledger.sql.ledger import SqlLedger
from hpcpolicy.ledger.sql.migrate import upgrade
from tests.dbservers import truncate


def sqlite_ledger(path: Path, *, audit: bool = False) -> SqlLedger:
    engine = create_ledger_engine(f"sqlite:///{path / 'ledger.db'}")
    upgrade(engine)
    return SqlLedger(engine, audit=audit)


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


@pytest.fixture(scope="module", params=["sqlite", "postgresql", "mariadb"])
def sql_engine(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """A migrated engine per SQL backend, for a module's property tests (each example clears what it uses)."""
    if request.param == "sqlite":
        made = create_ledger_engine(f"sqlite:///{tmp_path_factory.mktemp('ledger') / 'ledger.db'}")
        upgrade(made)
        yield made
        made.dispose()
    else:
        server: Engine = request.getfixturevalue(f"{request.param}_engine")
        truncate(server)
        yield server
        truncate(server)


def amounts_close(a: Amounts, b: Amounts, abs_tol: float = 1e-9) -> bool:
    """Amounts alike within 1e-9 relative (running totals add in another order than a sum does)."""
    pairs = ((a.cpu_hours, b.cpu_hours), (a.gpu_hours, b.gpu_hours), (a.cost, b.cost))
    return all(math.isclose(x, y, rel_tol=1e-9, abs_tol=abs_tol) for x, y in pairs)


def backend_ledger(backend: str, request: pytest.FixtureRequest, path: Path) -> SqlLedger:
    """A migrated SQL ledger on ``backend``: a SQLite file under ``path``, or the session's server database
    emptied (the caller disposes a SQLite ledger's engine when done)."""
    if backend == "sqlite":
        return sqlite_ledger(path)
    engine = request.getfixturevalue(f"{backend}_engine")
    truncate(engine)
    return SqlLedger(engine)
