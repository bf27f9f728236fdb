"""Hostile values in every field: a 422 problem naming the field, the same on every backend, ledger untouched.

Numbers: JSON's non-standard ``Infinity``/``NaN`` literals (Python's parser accepts them), ``1e309``
(parses as infinity), ``10**400`` (an exact integer no float holds), negatives and absurd magnitudes.
Strings: NUL and other control characters, surrounding whitespace, lone surrogates, one character more
than the ledger's columns. Before issue 9 these gave 500s (OverflowError; PostgreSQL refusing NUL;
MariaDB truncating) or were stored (NaN charges that silently disabled every quota check).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from hpcpolicy.service import Governance
from tests.api.conftest import AppFactory, ledger_rows
from tests.service.conftest import Clock

HUGE_INT = "1" + "0" * 400
NUMBERS = ["Infinity", "-Infinity", "NaN", "1e309", HUGE_INT, "-1", "1e300"]
STRINGS = ["a\u0000b", "x" * 192, "x" * 256, " alice", "alice\n", "tab\there", "\ud800", "a\u0085b"]

DECISION = {"user_id": "alice", "partition": "cpu", "cpus": 4, "walltime_hours": 10}
#: (path, a valid body, the numeric fields to poison); {lien} is a reserved job's id.
NUMERIC = [
    ("/quota/check", {"user_id": "alice", "cpu_hours": 1, "gpu_hours": 0, "gpus": 0},
     ["cpu_hours", "gpu_hours", "gpus"]),
    ("/jobs/evaluate", {"user_id": "alice", "partition": "cpu", "gpus": 0, "memory_gb": 1}, ["gpus", "memory_gb"]),
    ("/v1/decisions", DECISION | {"reserve": True},
     ["cpus", "gpus", "memory_gb", "nodes", "walltime_hours", "cpu_hours", "gpu_hours"]),
    ("/v1/jobs/{lien}/finish", {"elapsed_hours": 1}, ["elapsed_hours", "elapsed_seconds", "cpus", "gpus", "memory_gb"]),
    ("/v1/jobs/{lien}/cancel", {"elapsed_hours": 1}, ["elapsed_hours", "elapsed_seconds", "cpus"]),
    ("/v1/adjustments", {"scope": "user:alice", "kind": "grant", "cpu_hours": 1, "reason": "test"},
     ["cpu_hours", "gpu_hours", "cost"]),
]  # fmt: skip
#: (path, a valid body, the string fields to poison).
TEXTUAL = [
    ("/v1/decisions", DECISION | {"reserve": True, "project": "wgs-cohort", "roles": ["pi"]},
     ["user_id", "project", "cluster", "partition", "gpu_type", "roles.0", "idempotency_key", "job_id"]),
    ("/quota/check", {"user_id": "alice", "cpu_hours": 1, "partition": "cpu"}, ["user_id", "partition", "roles.0"]),
    ("/v1/jobs/{lien}/start", {"job_id": "42"}, ["job_id"]),
    ("/v1/adjustments", {"scope": "user:alice", "kind": "grant", "cpu_hours": 1, "reason": "test"},
     ["scope", "idempotency_key"]),
]  # fmt: skip


def raw(body: dict[str, Any], path: str, literal: str) -> str:
    """``body`` as JSON with the value at ``path`` (``a`` or ``a.0``) replaced by the raw text ``literal``."""
    marker = "__HOSTILE__"
    copy: Any = json.loads(json.dumps(body))
    name, _, index = path.partition(".")
    if index:
        copy[name] = [marker]
    else:
        copy[name] = marker
    return json.dumps(copy).replace(f'"{marker}"', literal)


@pytest.fixture
def api(make_db_client: AppFactory) -> TestClient:
    return make_db_client()  # dev mode: an admin that may speak for users and report usage: every route


def reserved(api: TestClient, clock: Clock) -> str:
    lien = api.post("/v1/decisions", json=DECISION | {"reserve": True}).json()["lien_id"]
    clock.advance(hours=2)
    return str(lien)


def assert_refused(api: TestClient, gov: Governance, path: str, content: str, field: str) -> None:
    before = ledger_rows(gov)
    response = api.post(path, content=content, headers={"content-type": "application/json"})
    assert response.status_code == 422, (path, content[:120], response.status_code, response.text[:300])
    assert response.headers["content-type"].startswith("application/problem+json")
    paths = {error["path"] for error in response.json()["errors"]}
    assert any(p == field or p.startswith(f"{field}.") or p.startswith(f"job.{field}") for p in paths), paths
    assert ledger_rows(gov) == before, f"{path} {field} moved the ledger"


@pytest.mark.parametrize(("path", "body", "fields"), NUMERIC, ids=[p for p, _, _ in NUMERIC])
def test_numbers_that_are_not_finite_and_sane_are_422(
    api: TestClient, db_gov: Governance, clock: Clock, path: str, body: dict[str, Any], fields: list[str]
) -> None:
    lien = reserved(api, clock)
    url = path.format(lien=lien)
    for field in fields:
        for literal in NUMBERS:
            assert_refused(api, db_gov, url, raw(body, field, literal), field)


@pytest.mark.parametrize(("path", "body", "fields"), TEXTUAL, ids=[p for p, _, _ in TEXTUAL])
def test_strings_the_ledger_cannot_hold_alike_are_422(
    api: TestClient, db_gov: Governance, clock: Clock, path: str, body: dict[str, Any], fields: list[str]
) -> None:
    url = path.format(lien=reserved(api, clock))
    for field in fields:
        for text in STRINGS:
            literal = json.dumps(text) if text != "\ud800" else '"\\ud800"'
            assert_refused(api, db_gov, url, raw(body, field, literal), field)


def test_ids_in_paths_and_queries_are_checked_before_any_query(api: TestClient, db_gov: Governance) -> None:
    before = ledger_rows(db_gov)
    for url in ("/v1/decisions/a%00b", "/v1/jobs/a%00b", f"/v1/jobs/{'x' * 192}", "/v1/jobs/%20x"):
        response = api.get(url)
        assert response.status_code == 422, (url, response.text)
    for method in ("start", "finish", "cancel"):
        assert api.post(f"/v1/jobs/a%00b/{method}", json={"elapsed_hours": 1}).status_code == 422
    for scope in ("user:a\x00b", "project:" + "x" * 200):
        assert api.get("/v1/usage", params={"scope": scope}).status_code == 422
    assert api.get("/v1/jobs/42", params={"cluster": "a\x00"}).status_code == 422
    assert ledger_rows(db_gov) == before


def test_the_longest_ids_the_columns_hold_work_end_to_end(api: TestClient, clock: Clock) -> None:
    longest = "u" * 191
    body = {"user_id": longest, "partition": "cpu", "cpus": 1, "walltime_hours": 1, "reserve": True,
            "idempotency_key": "k" * 191, "job_id": "j" * 191}  # fmt: skip
    made = api.post("/v1/decisions", json=body)
    assert made.status_code == 200 and made.json()["allow"], made.text
    clock.advance(minutes=30)
    finished = api.post(f"/v1/jobs/{'j' * 191}/finish", json={"elapsed_hours": 0.5})
    assert finished.status_code == 200 and finished.json()["user_id"] == longest
    assert api.get("/v1/usage", params={"scope": f"user:{longest}"}).json()["balances"][0]["charged"] == 0.5


def test_an_infinite_or_absurd_grant_cannot_make_anyone_unlimited(api: TestClient, db_gov: Governance) -> None:
    for literal in ("Infinity", "1e309", "1e300"):
        body = raw({"scope": "user:alice", "kind": "grant", "reason": "x"}, "cpu_hours", literal)
        assert_refused(api, db_gov, "/v1/adjustments", body, "cpu_hours")
    grant = api.post("/v1/adjustments", json={"scope": "user:alice", "kind": "grant", "cpu_hours": 1e12, "reason": "x"})
    assert grant.status_code == 201  # large but finite grants are an admin's call
    balances = api.get("/v1/usage", params={"scope": "user:alice"}).json()["balances"]
    assert all(b["available"] is None or b["available"] < 2e12 for b in balances)


def test_a_reason_with_control_characters_is_refused(api: TestClient, db_gov: Governance) -> None:
    body = {"scope": "user:alice", "kind": "grant", "cpu_hours": 1}
    assert_refused(api, db_gov, "/v1/adjustments", json.dumps(body | {"reason": "a\u0000b"}), "reason")
    assert_refused(api, db_gov, "/v1/adjustments", json.dumps(body | {"reason": "x" * 2001}), "reason")
    ok = api.post("/v1/adjustments", json=body | {"reason": "line one\nline two\ttabbed"})
    assert ok.status_code == 201
