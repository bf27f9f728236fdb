"""``GET /v1/reports/chargeback``: who may read what, the three formats, hostile queries, a lost database."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from hpcpolicy.api import create_app
from hpcpolicy.auth import Authenticator
from hpcpolicy.engine import Amounts
from hpcpolicy.ledger.sql.connect import create_ledger_engine
from hpcpolicy.ledger.sql.ledger import SqlLedger
from hpcpolicy.service import Governance, PolicyStore
from hpcpolicy.service.context import Context
from tests.api.conftest import (  # noqa: F401 - clock, gov and make_client: fixture re-exports
    AppFactory,
    clients_of,
    clock,
    dev_settings,
    gov,
    ledger_rows,
    make_client,
)
from tests.api.identities import make_keys, secured_settings, user
from tests.dbservers import truncate
from tests.faults import proxied
from tests.reports.records import OCTOBER, adjustment, charge, record

URL = "/v1/reports/chargeback"
PROBLEM = "application/problem+json"


@pytest.fixture
def filled(gov: Governance) -> Governance:  # noqa: F811
    """October: alice in wgs-cohort (example policy: genomics, biocenter) and in protein-lm, bob without a project."""
    record(gov.ctx.ledger, [
        charge("c1", OCTOBER, Amounts(10.0, 2.0, 30.0), user="alice", path=("wgs-cohort", "genomics", "biocenter"),
               gpu_type="a100"),
        charge("c2", OCTOBER, Amounts(5.0, 0.0, 5.0), user="alice", path=("protein-lm", "ml-research", "biocenter")),
        charge("c3", OCTOBER + timedelta(days=40), Amounts(7.0, 0.0, 7.0), user="bob", path=(None, None, None)),
    ], [adjustment("a1", "project:wgs-cohort", amounts=Amounts(0.0, 0.0, 4.0))])  # fmt: skip
    return gov


@pytest.fixture
def keys(tmp_path: Path) -> dict[str, dict[str, str]]:
    return make_keys(tmp_path / "keys.yaml")


@pytest.fixture
def api(filled: Governance, make_client: AppFactory, keys: dict[str, dict[str, str]], tmp_path: Path) -> TestClient:  # noqa: F811
    return make_client(secured_settings(tmp_path / "keys.yaml"))


def test_admins_and_gateways_read_everything(api: TestClient, keys: dict[str, dict[str, str]]) -> None:
    for who in ("admin", "gateway"):
        response = api.get(URL, params={"period": "2026-10"}, headers=keys[who])
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "application/json"
        body = response.json()
        assert (body["totals"]["charges"], body["totals"]["cost"], body["totals"]["net_cost"]) == (2, 35.0, 31.0)
        assert [o["org"] for o in body["orgs"]] == ["biocenter"]


def test_a_member_reads_their_project_only(api: TestClient, keys: dict[str, dict[str, str]]) -> None:
    response = api.get(URL, params={"period": "2026-10", "project": "wgs-cohort"}, headers=user("alice"))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["project"] == "wgs-cohort" and (body["totals"]["cost"], body["totals"]["net_cost"]) == (30.0, 26.0)
    projects = [p["project"] for o in body["orgs"] for t in o["teams"] for p in t["projects"]]
    assert projects == ["wgs-cohort"]
    refusals = [
        ({"period": "2026-10"}, user("alice")),  # the whole site
        ({"period": "2026-10", "project": "variant-calling"}, user("alice")),  # not hers
        ({"period": "2026-10", "project": "wgs-cohort"}, user("mallory")),
        ({"period": "2026-10", "project": "wgs-cohort"}, keys["reporter"]),  # a key for no user
    ]
    for params, headers in refusals:
        answer = api.get(URL, params=params, headers=headers)
        assert answer.status_code == 403 and answer.headers["content-type"] == PROBLEM, (params, answer.text)
    assert api.get(URL, params={"period": "2026-10"}).status_code == 401


def test_csv_is_an_attachment_and_html_a_page(api: TestClient, keys: dict[str, dict[str, str]]) -> None:
    response = api.get(URL, params={"period": "2026-10", "format": "csv"}, headers=keys["admin"])
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"] == 'attachment; filename="chargeback-2026-10.csv"'
    table = list(csv.DictReader(io.StringIO(response.text, newline="")))
    assert table[-1]["level"] == "total" and float(table[-1]["cost"]) == 35.0
    page = api.get(URL, params={"period": "2026-10", "format": "html", "project": "wgs-cohort"}, headers=user("alice"))
    assert page.status_code == 200 and page.headers["content-type"] == "text/html; charset=utf-8"
    assert "content-disposition" not in page.headers and "wgs-cohort" in page.text


def test_days_are_a_period_too(api: TestClient, keys: dict[str, dict[str, str]]) -> None:
    response = api.get(URL, params={"from": "2026-10-01", "to": "2026-11-30"}, headers=keys["admin"])
    assert response.status_code == 200 and response.json()["totals"]["charges"] == 3
    assert response.json()["period"] == "2026-10-01..2026-11-30"


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"period": "2026-13"}, "query.period"),
        ({"period": "10000-01"}, "query.period"),
        ({"period": "2026-1"}, "query.period"),
        ({"period": "2026-10\x00"}, "query.period"),
        ({"period": "\x00"}, "query.period"),
        ({"period": "9" * 10_000}, "query.period"),
        ({"period": "2026-10", "format": "xml"}, "query.format"),
        ({"period": "2026-10", "project": "p\x00"}, "query.project"),
        ({"period": "2026-10", "project": "x" * 10_000}, "query.project"),
        ({"from": "2026-10-01"}, "query.period"),
        ({"period": "2026-10", "from": "2026-10-01", "to": "2026-10-02"}, "query.period"),
        ({"from": "2026-10-02", "to": "2026-10-01"}, "query.to"),
        ({"from": "2026-02-30", "to": "2026-03-01"}, "query.from"),
        ({}, "query.period"),
    ],
)
def test_hostile_queries_are_422_problems_that_touch_nothing(
    api: TestClient, filled: Governance, keys: dict[str, dict[str, str]], params: dict[str, str], field: str
) -> None:
    before = ledger_rows(filled)
    response = api.get(URL, params=params, headers=keys["admin"])
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM
    assert field in [e["path"] for e in response.json()["errors"]]
    assert len(response.text) < 2_000  # the 10 kB value is not echoed back
    assert ledger_rows(filled) == before


@pytest.fixture
def lost(postgresql_engine: Engine) -> Iterator[tuple[object, TestClient]]:
    truncate(postgresql_engine)
    with proxied(postgresql_engine.url.render_as_string(hide_password=False)) as (proxy, url):
        engine = create_ledger_engine(url, connect_timeout=1, statement_timeout=2)
        gov = Governance(Context(SqlLedger(engine), PolicyStore.from_file(None, env={})))
        clients = clients_of(gov)
        yield proxy, next(clients)(dev_settings())
        next(clients, None)
        engine.dispose()


def test_a_lost_database_is_a_503_and_the_report_returns_with_it(lost: tuple[object, TestClient]) -> None:
    proxy, client = lost
    assert client.get(URL, params={"period": "2026-10"}).status_code == 200
    proxy.cut()  # type: ignore[attr-defined]
    response = client.get(URL, params={"period": "2026-10"})
    assert response.status_code == 503 and response.headers["content-type"] == PROBLEM
    assert response.headers["retry-after"] == "5"
    proxy.restore()  # type: ignore[attr-defined]
    assert client.get(URL, params={"period": "2026-10"}).status_code == 200


def test_the_in_memory_ledger_serves_reports_too(tmp_path: Path) -> None:
    from hpcpolicy.ledger.memory import MemoryLedger

    ledger = MemoryLedger()
    record(ledger, [charge("c1", OCTOBER, Amounts(1.0, 0.0, 2.0))])
    with TestClient(create_app(Governance(Context(ledger, PolicyStore.from_file(None, env={}))),
                               Authenticator(dev_settings()))) as client:  # fmt: skip
        assert client.get(URL, params={"period": "2026-10"}).json()["totals"]["cost"] == 2.0
