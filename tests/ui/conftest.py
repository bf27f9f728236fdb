"""The dashboard over a SQLite ledger and the example policy, with API keys and user tokens as in
tests/api (identities.py): ``admin``, ``gateway``, ``scheduler`` and ``reporter`` keys; JWT users."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from hpcpolicy.api import create_app
from hpcpolicy.auth import Authenticator
from hpcpolicy.service import Governance, PolicyStore
from hpcpolicy.service.context import Context
from tests.api.identities import make_keys, secured_settings, token
from tests.ledger.conftest import sqlite_ledger
from tests.service.conftest import Clock, clock  # noqa: F401 - fixture re-export

ORIGIN = {"origin": "http://testserver"}


@pytest.fixture
def gov(tmp_path: Path, clock: Clock) -> Iterator[Governance]:  # noqa: F811
    ledger = sqlite_ledger(tmp_path)
    yield Governance(Context(ledger, PolicyStore.from_file(None, env={}), clock=clock, lien_ttl=timedelta(hours=2)))
    ledger.engine.dispose()


@pytest.fixture
def keys(tmp_path: Path) -> dict[str, str]:
    """The raw keys by role (``admin``, ``gateway``, ``scheduler``, ``reporter``)."""
    return {name: headers["X-API-Key"] for name, headers in make_keys(tmp_path / "keys.yaml").items()}


MakeClient = Callable[..., TestClient]


@pytest.fixture
def make_client(gov: Governance, tmp_path: Path, keys: dict[str, str]) -> Iterator[MakeClient]:
    """Test clients of a server requiring credentials (``secure_cookies`` as the option says)."""
    with ExitStack() as made:

        def make(*, secure_cookies: bool = False, base_url: str = "http://testserver") -> TestClient:
            auth = Authenticator(secured_settings(tmp_path / "keys.yaml"))
            app = create_app(gov, auth, secure_cookies=secure_cookies)
            client = TestClient(app, base_url=base_url, raise_server_exceptions=False, follow_redirects=False)
            made.callback(client.close)
            return client

        yield make


@pytest.fixture
def client(make_client: MakeClient) -> TestClient:
    return make_client()


def sign_in(client: TestClient, credential: str, **extra: str) -> httpx.Response:
    """POST the sign-in form as the browser does from the sign-in page."""
    return client.post("/ui/login", data={"credential": credential, **extra}, headers=ORIGIN)


def as_user(client: TestClient, sub: str, **claims: object) -> TestClient:
    """``client`` signed in as JWT user ``sub``."""
    response = sign_in(client, token(sub, **claims))  # type: ignore[arg-type]
    assert response.status_code == 303, response.text
    return client


def as_key(client: TestClient, key: str) -> TestClient:
    response = sign_in(client, key)
    assert response.status_code == 303, response.text
    return client
