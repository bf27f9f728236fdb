"""The hot routes (hpcpolicy.api.hot) answer exactly as FastAPI's own handling of the same endpoints: the same
status and problem for every odd body, header and credential, in the same order (who, then what); a
route needing what the hot path does not solve is refused at start-up."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import APIRouter, FastAPI, Header, Query
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from starlette.routing import Route

from hpcpolicy.api import create_app, hot
from hpcpolicy.api.app import _telemetry
from hpcpolicy.api.limits import BodyLimits
from hpcpolicy.auth import Authenticator
from hpcpolicy.service import Governance
from tests.api.conftest import dev_settings, ledger_rows
from tests.api.identities import make_keys, secured_settings, user

DECISION = {"user_id": "alice", "partition": "cpu", "cpus": 4, "walltime_hours": 1}
BODIES: dict[str, dict[str, Any]] = {
    "/v1/decisions": DECISION | {"reserve": True},
    "/quota/check": {"user_id": "alice", "cpu_hours": 4, "partition": "cpu"},
    "/v1/adapters/slurm/job_submit": {"job": {"user_id": 1000, "partition": "cpu", "min_cpus": 2}},
}
JSON = {"content-type": "application/json"}
#: (what is odd, body bytes, extra headers): sent to every hot route.
ODD: list[tuple[str, bytes | None, dict[str, str]]] = [
    ("no body", None, JSON),
    ("empty body", b"", JSON),
    ("no content type", b"{}", {}),
    ("text/plain", b'{"user_id": "alice"}', {"content-type": "text/plain"}),
    ("json with a charset", b"{}", {"content-type": "application/json; charset=utf-8"}),
    ("a +json type", b"[]", {"content-type": "application/problem+json"}),
    ("truncated json", b'{"user_id": "al', JSON),
    ("not utf-8", b'{"user_id": "\xff\xfe"}', JSON),
    ("utf-16", json.dumps({"user_id": "alice"}).encode("utf-16"), JSON),
    ("an array", b"[1, 2]", JSON),
    ("a number", b"42", JSON),
    ("null", b"null", JSON),
    ("Infinity", b'{"user_id": "alice", "cpus": Infinity, "cpu_hours": NaN}', JSON),
    ("huge integer", b'{"user_id": "alice", "cpus": 1' + b"0" * 400 + b"}", JSON),
    ("NUL in a string", b'{"user_id": "a\\u0000b"}', JSON),
    ("lone surrogate", b'{"user_id": "\\ud800"}', JSON),
    ("unknown field", b'{"user_id": "alice", "surprise": 1}', JSON),
    ("duplicate keys", b'{"user_id": "alice", "user_id": "bob"}', JSON),
    ("long idempotency key", json.dumps(DECISION).encode(), JSON | {"idempotency-key": "k" * 192}),
    ("empty idempotency key", json.dumps(DECISION).encode(), JSON | {"idempotency-key": ""}),
    ("empty API key", json.dumps(DECISION).encode(), JSON | {"x-api-key": ""}),
    ("underscored header name", json.dumps(DECISION).encode(), JSON | {"x_api_key": "nonsense"}),
    ("API key padded with spaces", json.dumps(DECISION).encode(), JSON | {"x-api-key": "  nonsense  "}),
    ("a NUL-free control character in the API key", json.dumps(DECISION).encode(), JSON | {"x-api-key": "a\tb"}),
]


def fastapi_only(app: FastAPI) -> FastAPI:
    """``app`` without its hot routes: every request takes FastAPI's own path."""
    app.router.routes[:] = [r for r in app.router.routes if not (getattr(r, "name", None) or "").startswith("hot:")]
    return app


@pytest.fixture
def pair(gov: Governance, tmp_path: Path) -> Iterator[tuple[TestClient, TestClient, dict[str, dict[str, str]]]]:
    keys = make_keys(tmp_path / "keys.yaml")
    settings = secured_settings(tmp_path / "keys.yaml")
    served = TestClient(create_app(gov, Authenticator(settings)), raise_server_exceptions=False)
    plain = TestClient(fastapi_only(create_app(gov, Authenticator(settings))), raise_server_exceptions=False)
    assert any((getattr(r, "name", None) or "").startswith("hot:") for r in served.app.router.routes)  # type: ignore[attr-defined]
    yield served, plain, keys
    served.close()
    plain.close()


def answer(client: TestClient, path: str, body: bytes | None, headers: dict[str, str]) -> tuple[int, Any]:
    response = client.post(path, content=body, headers=headers)
    content = response.json() if response.content else None
    if response.status_code == 200:  # ids, times and balances differ between two decisions: compare the rest
        for volatile in ("decision_id", "lien_id", "at", "admin_comment", "comment", "remaining"):
            content.pop(volatile, None)
    return response.status_code, content


@pytest.mark.parametrize("path", list(BODIES))
def test_odd_requests_get_the_same_answer_from_both_paths(pair: Any, gov: Governance, path: str) -> None:
    served, plain, keys = pair
    for what, body, headers in ODD:
        for who in (keys["scheduler"], user("alice"), {"authorization": "Bearer nonsense"}, {}):
            hot_answer = answer(served, path, body, headers | who)
            assert hot_answer == answer(plain, path, body, headers | who), (what, who)
            assert hot_answer[0] < 500, (what, hot_answer)


@pytest.mark.parametrize("path", list(BODIES))
def test_valid_requests_get_the_same_answer_from_both_paths(pair: Any, gov: Governance, path: str) -> None:
    served, plain, keys = pair
    body = json.dumps(BODIES[path]).encode()
    before = ledger_rows(gov)
    first = served.post(path, content=body, headers=JSON | keys["scheduler"])
    second = plain.post(path, content=body, headers=JSON | keys["scheduler"])
    assert first.status_code == second.status_code == 200, first.text
    assert first.headers["content-type"] == second.headers["content-type"] == "application/json"
    assert first.json().keys() == second.json().keys() and first.json()["allow"] and second.json()["allow"]
    written = 0 if path == "/quota/check" else 2  # a decision (its lien too) from each path; a check writes nothing
    assert len(ledger_rows(gov)["liens"]) == len(before["liens"]) + written


def test_a_route_needing_more_than_the_hot_path_solves_is_refused_at_start() -> None:
    router = APIRouter()

    @router.post("/odd")
    async def odd(page: int = Query(1)) -> dict[str, int]:
        return {"page": page}

    route = router.routes[0]
    assert isinstance(route, APIRoute)
    with pytest.raises(hot.NotHot, match="only a body"):
        hot.install(FastAPI(), [route], hot=(("POST", "/odd"),))
    with pytest.raises(hot.NotHot, match="no such route"):
        hot.install(FastAPI(), [route], hot=(("POST", "/elsewhere"),))


def test_header_defaults_are_handed_out_only_when_no_such_header_is_sent() -> None:
    router = APIRouter()

    @router.post("/optional")
    async def optional(body: dict[str, int], x_tag: str | None = Header(None, max_length=3)) -> None: ...

    @router.post("/required")
    async def required(body: dict[str, int], x_tag: str = Header()) -> None: ...

    optional_route, required_route = router.routes
    assert isinstance(optional_route, APIRoute) and isinstance(required_route, APIRoute)
    absent = hot.plan(optional_route.dependant, top=True).absent
    assert absent is not None and absent.names == {b"x-tag"} and absent.defaults == {"x_tag": None}
    assert hot.plan(required_route.dependant, top=True).absent is None  # a required header: FastAPI's 422


def test_plain_string_headers_are_read_as_they_are_and_only_those() -> None:
    router = APIRouter()

    @router.post("/plain")
    async def plain(body: dict[str, int], x_a: str | None = Header(None), x_b: str | None = Header(None)) -> None: ...

    @router.post("/limited")
    async def limited(body: dict[str, int], x_a: str | None = Header(None, max_length=3)) -> None: ...

    @router.post("/typed")
    async def typed(body: dict[str, int], x_a: int | None = Header(None)) -> None: ...

    plain_route, *others = router.routes
    assert isinstance(plain_route, APIRoute)
    found = hot.plan(plain_route.dependant, top=True).plain
    assert found is not None and found.fields == (("x_a", ("x-a",)), ("x_b", ("x-b",)))
    for route in others:  # a constraint or another type: FastAPI validates it (its 422)
        assert isinstance(route, APIRoute) and hot.plan(route.dependant, top=True).plain is None


def test_a_credential_sent_twice_is_read_as_fastapi_reads_it(pair: Any) -> None:
    served, plain, keys = pair
    (name, good), = keys["scheduler"].items()
    body = json.dumps(BODIES["/v1/decisions"]).encode()
    for twice in ([(name, good), (name, "hpk_bad_key")], [(name, "hpk_bad_key"), (name, good)]):
        first = served.post("/v1/decisions", content=body, headers=[("content-type", "application/json"), *twice])
        second = plain.post("/v1/decisions", content=body, headers=[("content-type", "application/json"), *twice])
        assert first.status_code == second.status_code, twice
        assert first.status_code == (200 if twice[0][1] == good else 401)


def test_the_hot_routes_come_first_and_the_document_is_fastapis(gov: Governance) -> None:
    app = create_app(gov, Authenticator(secured_settings(Path("/nonexistent/keys.yaml"))))
    first = app.router.routes[: len(hot.HOT)]
    assert all(isinstance(r, Route) and r.name == f"hot:{r.path}" for r in first)
    plain = fastapi_only(create_app(gov, Authenticator(secured_settings(Path("/nonexistent/keys.yaml")))))
    assert app.openapi() == plain.openapi()


def test_a_chunked_body_over_the_limit_is_413_on_both_paths_and_logs_no_error(
    gov: Governance, caplog: pytest.LogCaptureFixture
) -> None:
    small = BodyLimits(max_bytes=1000)
    served = TestClient(create_app(gov, Authenticator(dev_settings()), limits=small), raise_server_exceptions=False)
    plain = TestClient(fastapi_only(create_app(gov, Authenticator(dev_settings()), limits=small)),
                       raise_server_exceptions=False)  # fmt: skip
    for path in BODIES:
        for client in (served, plain):
            chunks = iter([b'{"user_id": "', b"a" * 800, b"b" * 800, b'"}'])  # no Content-Length: chunked
            with caplog.at_level(logging.ERROR):
                response = client.post(path, content=chunks, headers=JSON)
            assert response.status_code == 413, (path, response.text)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    served.close()
    plain.close()


def test_fastapis_opentelemetry_is_on_only_where_the_environment_configures_it() -> None:
    assert _telemetry({"PATH": "/bin", "HPCPOLICY_PORT": "8003"}) == {"tracing": False, "metrics": False, "logs": False}
    assert _telemetry({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}) is None  # FastAPI's defaults
    assert _telemetry({"FASTAPI_OTEL_AUTO_CONFIGURE": "true"}) is None
