"""Schemathesis against the app's own OpenAPI document: no 5xx, and every answer as documented.

Every operation of ``/openapi.json`` gets valid and invalid inputs (schemathesis' coverage and fuzzing
phases, with the hostile values of :mod:`tests.api.fuzzing` mixed in) on a SQLite and a PostgreSQL
ledger: in dev mode (the dev caller is an admin who may speak for users, so every route is reached),
and with a service key that is no admin (403s) then without it (401s). Three checks: no server error,
the status code is documented, the body matches the schema documented for that status (success models
and problem+json alike).

In process, over ASGI: the requests go through the very app ``hpcpolicy serve`` runs (``create_app``:
the same middleware, exception handlers and routes; only the socket and uvicorn's HTTP parser are left
out). That keeps the run fast and deterministic and lets the Slurm routes use a fake NSS (a dependency
override, impossible across a process boundary). The document is fetched from ``/openapi.json`` of such
an app, as a client would; the ledger behind an app does not change it.

Hypothesis is pinned (derandomized, a fixed seed, no example database, no shrinking), so CI reruns the
same examples and a failure costs no more time than a pass: at most ``EXAMPLES`` fuzzed cases per
operation, plus the coverage phase's boundary cases (about 35 s per ledger on two cores). For a deeper
run, or other examples: ``HPCPOLICY_FUZZ_EXAMPLES=1000 HPCPOLICY_FUZZ_SEED=1 pytest tests/api/test_fuzz.py``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import not_a_server_error, response_schema_conformance, status_code_conformance
from schemathesis.python import asgi
from sqlalchemy import Engine
from starlette.types import ASGIApp

from hpcpolicy.api import create_app
from hpcpolicy.api.routes.slurm import unix_users
from hpcpolicy.auth import Authenticator, AuthSettings, create_key
from hpcpolicy.ledger.base import Ledger
from hpcpolicy.ledger.memory import MemoryLedger
from hpcpolicy.ledger.sql.ledger import SqlLedger
from hpcpolicy.service import Governance, PolicyStore
from hpcpolicy.service.context import Context
from tests.api.conftest import dev_settings
from tests.api.fuzzing import LikeAServer, hostile_config, nss, on_real_records, without_credentials
from tests.dbservers import truncate
from tests.ledger.conftest import sqlite_ledger

EXAMPLES = int(os.environ.get("HPCPOLICY_FUZZ_EXAMPLES", "100"))  # CI's budget; raise it for a deeper run
SEED = int(os.environ.get("HPCPOLICY_FUZZ_SEED", "9"))
CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance]


def key_auth(keys_file: Path) -> AuthSettings:
    return AuthSettings(_env_file=None, keys_file=keys_file, api_keys=None, jwt_secret=None, jwt_public_key=None)


def serve(ledger: Ledger, auth: AuthSettings) -> ASGIApp:
    gov = Governance(Context(ledger, PolicyStore.from_file(None, env={})))
    app = create_app(gov, Authenticator(auth))
    app.dependency_overrides[unix_users] = lambda: nss
    return LikeAServer(app)


@pytest.fixture(params=["sqlite", "postgresql"])
def ledger(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlLedger]:
    if request.param == "sqlite":
        sql = sqlite_ledger(tmp_path)
        yield sql
        sql.engine.dispose()
    else:
        engine: Engine = request.getfixturevalue("postgresql_engine")
        truncate(engine)  # each operation starts from an empty ledger, as on SQLite
        yield SqlLedger(engine)


@pytest.fixture
def dev_app(ledger: SqlLedger) -> Iterator[ASGIApp]:
    yield serve(ledger, dev_settings())
    asgi.shutdown_lifespans()  # the app's lifespan (started by the first request): ledger threads, housekeeping


@pytest.fixture
def keyed_app(ledger: SqlLedger, tmp_path: Path) -> Iterator[tuple[ASGIApp, dict[str, str]]]:
    keys_file = tmp_path / "keys.yaml"
    key, _ = create_key(keys_file, "gateway", ["decide"], may_assert_identity=True)
    yield serve(ledger, key_auth(keys_file)), {"X-API-Key": key}
    asgi.shutdown_lifespans()


def load_schema() -> schemathesis.BaseSchema:
    app = serve(MemoryLedger(), dev_settings())
    spec = schemathesis.openapi.from_asgi("/openapi.json", app).raw_schema
    config = {"seed": SEED, "phases": {"stateful": {"enabled": False}}} | hostile_config(spec)
    return schemathesis.openapi.from_asgi("/openapi.json", app, config=schemathesis.Config.from_dict(config))


schema = load_schema()
PINNED = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)


@schema.parametrize()
@PINNED
def test_dev_mode_every_route_answers_as_documented(case: schemathesis.Case, dev_app: ASGIApp) -> None:
    on_real_records(case, dev_app)
    case.call_and_validate(app=dev_app, checks=CHECKS)


@schema.parametrize()
@PINNED
def test_with_a_service_key_and_without_routes_answer_as_documented(
    case: schemathesis.Case, keyed_app: tuple[ASGIApp, dict[str, str]]
) -> None:
    app, key = keyed_app
    made_up = without_credentials(case)
    on_real_records(case, app, key)
    case.call_and_validate(app=app, headers=key, checks=CHECKS)
    case.call_and_validate(app=app, headers=made_up, checks=CHECKS)  # the generated credentials, or none
