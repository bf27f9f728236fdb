"""An app over a SQLite ledger, the example policy and a hand-moved clock; dev-mode auth unless a test
builds its own authenticator."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from hpcpolicy.api import create_app
from hpcpolicy.auth import Authenticator, AuthSettings
from hpcpolicy.ledger.sql.ledger import SqlLedger
from hpcpolicy.ledger.sql.tables import metadata
from hpcpolicy.service import Governance, PolicyStore
from hpcpolicy.service.context import Context
from tests.dbservers import truncate
from tests.ledger.conftest import sqlite_ledger
from tests.service.conftest import Clock, clock  # noqa: F401 - fixture re-export

AppFactory = Callable[..., TestClient]


def dev_settings() -> AuthSettings:
    return AuthSettings(_env_file=None, keys_file=None, api_keys=None, jwt_secret=None, jwt_public_key=None)


@pytest.fixture
def gov(tmp_path: Path, clock: Clock) -> Iterator[Governance]:  # noqa: F811
    ledger = sqlite_ledger(tmp_path)
    yield Governance(Context(ledger, PolicyStore.from_file(None, env={}), clock=clock, lien_ttl=timedelta(hours=2)))
    ledger.engine.dispose()


def clients_of(gov: Governance) -> Iterator[AppFactory]:
    """A factory of test clients over ``gov`` (dev mode unless given auth settings), closed afterwards."""
    clients: list[TestClient] = []

    def make(settings: AuthSettings | None = None) -> TestClient:
        client = TestClient(create_app(gov, Authenticator(settings or dev_settings())), raise_server_exceptions=False)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def make_client(gov: Governance) -> Iterator[AppFactory]:
    yield from clients_of(gov)


@pytest.fixture
def client(make_client: AppFactory) -> TestClient:
    return make_client()


@pytest.fixture(params=["sqlite", "postgresql", "mariadb"])
def db_gov(request: pytest.FixtureRequest, tmp_path: Path, clock: Clock) -> Iterator[Governance]:  # noqa: F811
    """The service over each ledger backend (hostile-input answers must be the same on every one)."""
    if request.param == "sqlite":
        ledger = sqlite_ledger(tmp_path)
    else:
        engine = request.getfixturevalue(f"{request.param}_engine")
        truncate(engine)
        ledger = SqlLedger(engine)
    yield Governance(Context(ledger, PolicyStore.from_file(None, env={}), clock=clock, lien_ttl=timedelta(hours=2)))
    if request.param == "sqlite":
        ledger.engine.dispose()


@pytest.fixture
def make_db_client(db_gov: Governance) -> Iterator[AppFactory]:
    yield from clients_of(db_gov)


def ledger_rows(gov: Governance) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every ledger table, ordered: what a refused request must leave exactly as it was."""
    engine = gov.ctx.ledger.engine  # type: ignore[attr-defined]
    with engine.connect() as conn:
        return {
            table.name: sorted((tuple(row) for row in conn.execute(select(table))), key=repr)
            for table in metadata.sorted_tables
            if table.name != "scope_locks"  # lock rows are created on demand, even by a refused admission
        }
