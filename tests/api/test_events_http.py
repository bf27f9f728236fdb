"""``GET /v1/events``: the sealed audit log over HTTP, paged by sequence number, read by admins in full and
by users for their own scopes only; hostile queries are 4xx problem details."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from hpcpolicy.ledger.sql.audit import seal
from hpcpolicy.ledger.sql.ledger import SqlLedger
from hpcpolicy.service import Governance, PolicyStore
from hpcpolicy.service.context import Context
from tests.api.conftest import AppFactory, clients_of
from tests.api.identities import make_keys, secured_settings, user
from tests.ledger.conftest import sqlite_ledger
from tests.service.conftest import Clock


@pytest.fixture
def audited(tmp_path: Path, clock: Clock) -> Iterator[Governance]:
    # Events left to the sealer, as on PostgreSQL and MariaDB: until sealed, none is served.
    ledger = SqlLedger(sqlite_ledger(tmp_path).engine, audit=True, seal_on_write=False)
    yield Governance(Context(ledger, PolicyStore.from_file(None, env={}), clock=clock, lien_ttl=timedelta(hours=2)))
    ledger.engine.dispose()


@pytest.fixture
def setup(audited: Governance, tmp_path: Path) -> Iterator[tuple[TestClient, dict[str, dict[str, str]]]]:
    keys = make_keys(tmp_path / "keys.yaml")
    factory: Iterator[AppFactory] = clients_of(audited)
    make = next(factory)
    yield make(secured_settings(tmp_path / "keys.yaml")), keys
    next(factory, None)


def decide(client: TestClient, headers: dict[str, str], who: str, cpus: int = 1) -> str:
    answer = client.post("/v1/decisions", headers=headers, json={"user_id": who, "partition": "cpu", "cpus": cpus,
                                                                 "reserve": True})  # fmt: skip
    assert answer.status_code == 200, answer.text
    return str(answer.json()["decision_id"])


def test_admins_page_through_every_event_in_order(setup, audited: Governance) -> None:
    client, keys = setup
    for who in ("alice", "bob", "alice"):
        decide(client, keys["gateway"], who)
    assert client.get("/v1/events", headers=keys["admin"]).json() == {"events": [], "after": 0}  # not sealed yet
    seal(audited.ctx.ledger)  # type: ignore[arg-type]
    first = client.get("/v1/events", params={"limit": 4}, headers=keys["admin"]).json()
    rest = client.get("/v1/events", params={"after": first["after"]}, headers=keys["admin"]).json()
    got = first["events"] + rest["events"]
    assert [e["hpcpolicyseq"] for e in got] == [1, 2, 3, 4, 5, 6] and first["after"] == 4 and rest["after"] == 6
    assert {e["type"] for e in got[:2]} == {"hpcpolicy.decision.made", "hpcpolicy.lien.reserved"}  # one transaction
    assert all(e["specversion"] == "1.0" and e["source"] == "hpcpolicy" for e in got)
    liens = client.get("/v1/events", params={"type": "hpcpolicy.lien.reserved"}, headers=keys["admin"]).json()
    assert [e["data"]["user_id"] for e in liens["events"]] == ["alice", "bob", "alice"]


def test_users_read_their_own_events_only(setup, audited: Governance) -> None:
    client, keys = setup
    for who in ("alice", "bob"):
        decide(client, keys["gateway"], who)
    seal(audited.ctx.ledger)  # type: ignore[arg-type]
    mine = client.get("/v1/events", headers=user("alice")).json()["events"]
    assert mine and {e["data"]["user_id"] for e in mine} == {"alice"}
    assert client.get("/v1/events", params={"scope": "user:bob"}, headers=user("alice")).status_code == 403
    project = client.get("/v1/events", params={"scope": "project:wgs-cohort"}, headers=user("alice"))
    assert project.status_code == 200 and {e["data"]["user_id"] for e in project.json()["events"]} == {"alice"}
    assert client.get("/v1/events", params={"scope": "project:protein-lm"}, headers=user("alice")).status_code == 403


@pytest.mark.parametrize(
    "params",
    [{"after": -1}, {"after": "1e309"}, {"limit": 0}, {"limit": 10**6}, {"type": "hpcpolicy.nope"},
     {"type": "x" * 65}, {"scope": "user:\x00"}, {"scope": "galaxy:x"}, {"after": 10**400}, {"user": "a\x00"},
     {"user": "x" * 300}, {"user": ""}],
)  # fmt: skip
def test_hostile_queries_are_problems(setup, params: dict[str, object]) -> None:
    client, keys = setup
    answer = client.get("/v1/events", params=params, headers=keys["admin"])
    assert 400 <= answer.status_code < 500 and answer.headers["content-type"] == "application/problem+json"


def test_scope_filter_does_not_match_a_longer_name(setup, audited: Governance) -> None:
    client, keys = setup
    decide(client, keys["gateway"], "alice")
    seal(audited.ctx.ledger)  # type: ignore[arg-type]
    none = client.get("/v1/events", params={"scope": "user:ali"}, headers=keys["admin"]).json()
    assert none["events"] == []
    underscore = client.get("/v1/events", params={"scope": "user:alic_"}, headers=keys["admin"]).json()
    assert underscore["events"] == []  # '_' is not a LIKE wildcard here


def test_the_user_filter_reads_what_concerns_a_user_and_what_they_did(setup, audited: Governance) -> None:
    client, keys = setup
    for who in ("alice", "bob"):
        decide(client, keys["gateway"], who)
    seal(audited.ctx.ledger)  # type: ignore[arg-type]
    bobs = client.get("/v1/events", params={"user": "bob"}, headers=keys["admin"]).json()["events"]
    assert sorted(e["type"] for e in bobs) == ["hpcpolicy.decision.made", "hpcpolicy.lien.reserved"]
    assert {e["data"]["user_id"] for e in bobs} == {"bob"}
    mine = client.get("/v1/events", params={"user": "alice"}, headers=user("alice"))
    assert mine.status_code == 200 and {e["data"]["user_id"] for e in mine.json()["events"]} == {"alice"}
    assert client.get("/v1/events", params={"user": "bob"}, headers=user("alice")).status_code == 403
    assert client.get("/v1/events", params={"user": "alice"}, headers=keys["reporter"]).status_code == 403


def test_events_carry_the_request_id_of_the_http_request(setup, audited: Governance) -> None:
    client, keys = setup
    answer = client.post("/v1/decisions", headers=keys["gateway"] | {"X-Request-ID": "req-audit-7"},
                         json={"user_id": "alice", "partition": "cpu", "cpus": 1, "reserve": True})  # fmt: skip
    assert answer.status_code == 200 and answer.headers["X-Request-ID"] == "req-audit-7"
    seal(audited.ctx.ledger)  # type: ignore[arg-type]
    got = client.get("/v1/events", headers=keys["admin"]).json()["events"]
    assert len(got) == 2 and {e["hpcpolicyrequestid"] for e in got} == {"req-audit-7"}
