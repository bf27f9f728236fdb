"""Alembic, driven from code: ``hpcpolicy db upgrade`` works from any directory, no alembic.ini needed.

Replicas started together on an empty database all try to migrate it. On PostgreSQL and MariaDB/MySQL
the upgrade runs under a database-wide advisory lock, on SQLite under a lock file beside the database,
so one replica migrates and the others find the schema current.
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, text

MIGRATIONS = Path(__file__).with_name("migrations")
LOCK_NAME = "hpcpolicy.migrate"
LOCK_KEY = 0x48504350  # "HPCP": the PostgreSQL advisory lock key
LOCK_WAIT_SECONDS = 300


def _config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply migrations up to ``revision`` (idempotent, safe to run from several processes at once)."""
    with migration_lock(engine):
        if revision != "head" or not is_current(engine):
            command.upgrade(_config(engine), revision)


@contextmanager
def migration_lock(engine: Engine) -> Iterator[None]:
    """Hold the database-wide migration lock (a no-op on SQLite) on a connection of its own."""
    dialect = engine.dialect.name
    if dialect == "sqlite":
        with _file_lock(engine.url.database):
            yield
        return
    if dialect not in ("postgresql", "mysql", "mariadb"):
        yield
        return
    with engine.connect() as conn:
        if dialect == "postgresql":
            conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": LOCK_KEY})
        else:
            got = conn.execute(text("SELECT GET_LOCK(:name, :wait)"), {"name": LOCK_NAME, "wait": LOCK_WAIT_SECONDS})
            if got.scalar() != 1:
                raise TimeoutError(f"another process held the migration lock for {LOCK_WAIT_SECONDS} s")
        try:
            yield
        finally:
            if dialect == "postgresql":
                conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": LOCK_KEY})
            else:
                conn.execute(text("SELECT RELEASE_LOCK(:name)"), {"name": LOCK_NAME})
            conn.commit()


def head_revision() -> str | None:
    return ScriptDirectory(str(MIGRATIONS)).get_current_head()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def is_current(engine: Engine) -> bool:
    return current_revision(engine) == head_revision()


@contextmanager
def _file_lock(database: str | None) -> Iterator[None]:
    """SQLite: an exclusive ``flock`` on ``<database>.migrate.lock`` (switching a fresh file to WAL from
    several connections at once fails with "database is locked" whatever the busy timeout)."""
    if not database or database == ":memory:":
        yield
        return
    path = Path(database).with_name(Path(database).name + ".migrate.lock")
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
