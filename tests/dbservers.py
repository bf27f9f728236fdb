"""Real database servers for tests: PostgreSQL and MariaDB on loopback (started by .ci/run in CI).

Each test session gets its own database (``hpcpolicy_test_<pid>``), migrated once; each test starts
from empty tables. Where a server is not reachable the tests are skipped locally, but fail under CI
(``CI=true``), where the servers are part of the contract.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from hpcpolicy.ledger.sql.connect import create_ledger_engine
from hpcpolicy.ledger.sql.migrate import upgrade
from hpcpolicy.ledger.sql.tables import metadata

SERVERS = {
    "postgresql": os.environ.get("HPCPOLICY_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test"),
    "mariadb": os.environ.get("HPCPOLICY_TEST_MARIADB", "mysql+pymysql://root@127.0.0.1:3306/test"),
}


def _unavailable(kind: str, exc: Exception) -> None:
    message = f"{kind} not reachable at {SERVERS[kind]}: {exc}"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@contextmanager
def server_database(kind: str, suffix: str = "") -> Iterator[str]:
    """Create a fresh database on the ``kind`` server, yield its URL, drop it afterwards.

    ``suffix`` tells apart databases that test packages hold open in the same session.
    """
    admin_url = make_url(SERVERS[kind])
    name = f"hpcpolicy_test_{os.getpid()}{suffix}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name}"))
            conn.execute(text(f"CREATE DATABASE {name}"))
    except OperationalError as exc:
        admin.dispose()
        _unavailable(kind, exc)
    url = admin_url.set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with admin.connect() as conn:
            if kind == "postgresql":
                conn.execute(text(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"))
            conn.execute(text(f"DROP DATABASE IF EXISTS {name}"))
        admin.dispose()


def migrated_engine(url: str) -> Engine:
    engine = create_ledger_engine(url)
    upgrade(engine)
    return engine


def truncate(engine: Engine) -> None:
    with engine.begin() as conn:
        for table in reversed(metadata.sorted_tables):
            conn.execute(table.delete())
