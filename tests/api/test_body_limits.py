"""Body size limits in the app (api/limits.py): 413 problem details before any route runs, the policy
upload's larger limit, bodies exactly at a limit accepted. What needs a real server (unread bodies,
stalls, header timeouts) is in test_http_edge_live.py."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from hpcpolicy.api import create_app
from hpcpolicy.api.limits import BodyLimits, MiB
from hpcpolicy.auth import Authenticator, AuthSettings, create_key
from hpcpolicy.service import Governance
from tests.api.conftest import AppFactory

JSON = {"content-type": "application/json"}
JOB = {"user_id": "alice", "partition": "cpu", "cpus": 1, "walltime_hours": 1}


def padded(document: object, size: int) -> bytes:
    """JSON text of exactly ``size`` bytes (trailing whitespace is valid JSON)."""
    text = json.dumps(document).encode()
    return text + b" " * (size - len(text))


def chunks(body: bytes, size: int = 64 * 1024) -> Iterator[bytes]:
    """As an iterator, httpx sends the body chunked, without a Content-Length."""
    for start in range(0, len(body), size):
        yield body[start : start + size]


def assert_refused(response: httpx.Response, limit: int) -> None:
    assert response.status_code == 413, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["connection"] == "close"  # the unread rest must not be parsed as a request
    body = response.json()
    assert body["title"] == "content too large" and body["status"] == 413 and body["limit"] == limit
    assert body["type"] == "https://hpcpolicy.dev/problems/content-too-large"


def test_a_body_over_the_limit_is_413_problem_details_and_closes_the_connection(client: TestClient) -> None:
    response = client.post("/v1/decisions", content=padded(JOB, MiB + 1), headers=JSON)
    assert_refused(response, MiB)
    assert response.headers["x-request-id"]  # the request context still wraps a refusal


def test_a_body_exactly_at_the_limit_is_decided(client: TestClient) -> None:
    response = client.post("/v1/decisions", content=padded(JOB, MiB), headers=JSON)
    assert response.status_code == 200, response.text
    assert response.json()["allow"] is True


def test_a_chunked_body_is_counted_and_refused_past_the_limit(client: TestClient) -> None:
    over = client.post("/v1/decisions", content=chunks(padded(JOB, MiB + 1)), headers=JSON)
    assert_refused(over, MiB)
    at = client.post("/v1/decisions", content=chunks(padded(JOB, MiB)), headers=JSON)
    assert at.status_code == 200, at.text


@pytest.mark.parametrize("path", ["/v1/decisions", "/quota/check", "/v1/adjustments", "/v1/policy", "/nowhere"])
def test_every_route_refuses_before_authentication(tmp_path: Path, make_client: AppFactory, path: str) -> None:
    create_key(tmp_path / "keys.yaml", "ops", ["admin"])
    auth = AuthSettings(_env_file=None, keys_file=tmp_path / "keys.yaml", api_keys=None, jwt_secret=None)
    secured = make_client(auth)
    assert secured.post("/v1/decisions", json=JOB).status_code == 401  # authentication is on
    response = secured.request("PUT" if path == "/v1/policy" else "POST", path, content=b"x" * (9 * MiB))
    assert_refused(response, 8 * MiB if path == "/v1/policy" else MiB)


def test_a_policy_upload_has_its_own_larger_limit(client: TestClient) -> None:
    not_a_policy = b"# " + b"x" * (3 * MiB) + b"\nclusters: nope\n"
    response = client.put("/v1/policy", content=not_a_policy)
    assert response.status_code == 422, response.text  # read in full and judged by the linter, not refused
    assert response.json()["title"] == "invalid policy"
    assert_refused(client.post("/v1/decisions", content=not_a_policy), MiB)  # the larger limit is the upload's
    assert_refused(client.put("/v1/policy", content=b"#" * (8 * MiB + 1)), 8 * MiB)
    assert_refused(client.put("/v1/policy", content=chunks(b"#" * (8 * MiB + 1))), 8 * MiB)


def test_the_limits_are_the_ones_given_to_create_app(gov: Governance) -> None:
    limits = BodyLimits(max_bytes=1000, max_policy_bytes=5000)
    dev = AuthSettings(_env_file=None, keys_file=None, api_keys=None, jwt_secret=None, jwt_public_key=None)
    with TestClient(create_app(gov, Authenticator(dev), limits=limits), raise_server_exceptions=False) as client:
        assert client.post("/v1/decisions", content=padded(JOB, 1000), headers=JSON).status_code == 200
        assert_refused(client.post("/v1/decisions", content=padded(JOB, 1001)), 1000)
        assert client.put("/v1/policy", content=b"#" * 5000).status_code == 422
        assert_refused(client.put("/v1/policy", content=b"#" * 5001), 5000)


def test_a_request_without_a_body_is_untouched(client: TestClient) -> None:
    assert client.get("/health").json() == {"status": "ok"}
    assert client.post("/v1/decisions", content=b"", headers=JSON).status_code == 422

