"""Migrations produce exactly the schema the code declares, on every backend, and can be re-run."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine

from hpcpolicy.ledger.sql.connect import create_ledger_engine
from hpcpolicy.ledger.sql.migrate import current_revision, head_revision, is_current, upgrade
from hpcpolicy.ledger.sql.tables import metadata


def _drift(engine: Engine) -> list[object]:
    with engine.connect() as conn:
        return list(compare_metadata(MigrationContext.configure(conn), metadata))


def test_sqlite_migration_matches_tables_and_is_idempotent(tmp_path: Path) -> None:
    engine = create_ledger_engine(f"sqlite:///{tmp_path / 'x' / 'ledger.db'}")
    assert current_revision(engine) is None and not is_current(engine)
    upgrade(engine)
    upgrade(engine)
    assert current_revision(engine) == head_revision() and is_current(engine)
    assert _drift(engine) == []
    engine.dispose()


@pytest.mark.parametrize("backend", ["postgresql", "mariadb"])
def test_server_migration_matches_tables(backend: str, request: pytest.FixtureRequest) -> None:
    engine = request.getfixturevalue(f"{backend}_engine")
    upgrade(engine)  # already at head: a no-op
    assert is_current(engine)
    assert _drift(engine) == []


@pytest.mark.parametrize("backend", ["sqlite", "postgresql", "mariadb"])
def test_replicas_migrating_an_empty_database_at_once_all_succeed(backend: str, tmp_path: Path) -> None:
    """Four processes' worth of upgrades race on a fresh database: one migrates, the rest find it current."""
    from concurrent.futures import ThreadPoolExecutor

    from tests.dbservers import server_database

    def race(url: str) -> None:
        engines = [create_ledger_engine(url) for _ in range(4)]
        try:
            with ThreadPoolExecutor(4) as pool:
                list(pool.map(upgrade, engines))  # re-raises any failure
            assert is_current(engines[0]) and _drift(engines[0]) == []
        finally:
            for engine in engines:
                engine.dispose()

    if backend == "sqlite":
        race(f"sqlite:///{tmp_path / 'ledger.db'}")
    else:
        with server_database(backend, suffix="_migrate") as url:
            race(url)
