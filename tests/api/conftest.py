"""An app over a SQLite ledger, the example policy and a hand-moved clock; dev-mode auth unless a test
builds its own authenticator."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from hpcpolicy.api import create_app
from hpcpolicy.auth import Authenticator, AuthSettings
from hpcpolicy.service import Governance, PolicyStore
from hpcpolicy.service.context import Context
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


@pytest.fixture
def make_client(gov: Governance) -> Iterator[AppFactory]:
    clients: list[TestClient] = []

    def make(settings: AuthSettings | None = None) -> TestClient:
        client = TestClient(create_app(gov, Authenticator(settings or dev_settings())), raise_server_exceptions=False)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def client(make_client: AppFactory) -> TestClient:
    return make_client()
