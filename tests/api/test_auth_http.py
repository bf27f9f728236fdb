"""Zero-trust identity over HTTP: API keys and JWTs, 401 versus 403, body roles from untrusted callers.

The unit tests in tests/auth prove the rules; these prove every route applies them, including the
original service's endpoints, and that a refused request writes nothing.
"""

from __future__ import annotations

from pathlib import Path

import jwt
import pytest
from fastapi.testclient import TestClient

from hpcpolicy.auth import create_key
from tests.api.conftest import AppFactory
from tests.api.identities import bearer, secured_settings, token

GPU_JOB = {"partition": "gpu", "gpus": 1, "walltime_hours": 1}


@pytest.fixture
def keys(tmp_path: Path) -> dict[str, str]:
    path = tmp_path / "keys.yaml"
    gateway, _ = create_key(path, "api-gateway", ["decide"], may_assert_identity=True)
    service, _ = create_key(path, "reporter", ["decide", "report"])
    admin, _ = create_key(path, "ops", ["admin"])
    return {"gateway": gateway, "service": service, "admin": admin, "path": str(path)}


@pytest.fixture
def secured(make_client: AppFactory, keys: dict[str, str]) -> TestClient:
    return make_client(secured_settings(Path(keys["path"])))


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/v1/decisions"),
        ("GET", "/v1/decisions/x"),
        ("POST", "/v1/jobs/x/start"),
        ("POST", "/v1/jobs/x/finish"),
        ("POST", "/v1/jobs/x/cancel"),
        ("GET", "/v1/usage"),
        ("GET", "/v1/policy"),
        ("PUT", "/v1/policy"),
        ("POST", "/v1/adjustments"),
        ("POST", "/quota/check"),
        ("POST", "/jobs/evaluate"),
    ],
)
def test_every_governed_route_needs_credentials(secured: TestClient, method: str, path: str) -> None:
    response = secured.request(method, path, json={"user_id": "alice", "cpu_hours": 1, "gpu_hours": 0, "gpus": 0})
    assert response.status_code == 401, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "Bearer" in response.headers["WWW-Authenticate"]


def test_liveness_and_docs_stay_open(secured: TestClient) -> None:
    assert secured.get("/health").json() == {"status": "ok"}
    assert secured.get("/openapi.json").status_code == 200


@pytest.mark.parametrize(
    "headers",
    [
        {"X-API-Key": "hpk_0123456789abcdef_wrong"},
        {"X-API-Key": "not-a-key"},
        bearer("not.a.jwt"),
        bearer(jwt.encode({"sub": "alice"}, "another-secret-of-enough-length-0123456789", algorithm="HS256")),
    ],
)
def test_wrong_credentials_are_401(secured: TestClient, headers: dict[str, str]) -> None:
    response = secured.post("/v1/decisions", json={"partition": "cpu"}, headers=headers)
    assert response.status_code == 401
    assert response.json()["title"]


def test_expired_token_is_401(secured: TestClient) -> None:
    response = secured.post("/v1/decisions", json={"partition": "cpu"}, headers=bearer(token(exp_in=-3600)))
    assert response.status_code == 401
    assert "expired" in response.json()["detail"]


def test_token_for_another_audience_is_401(secured: TestClient) -> None:
    response = secured.post("/v1/decisions", json={"partition": "cpu"}, headers=bearer(token(aud="other-service")))
    assert response.status_code == 401


def test_jwt_user_decides_for_themselves_with_token_roles(secured: TestClient) -> None:
    allowed = secured.post("/v1/decisions", json=GPU_JOB, headers=bearer(token("newbie", ["gpu_user"])))
    assert allowed.status_code == 200 and allowed.json()["allow"] is True
    record = secured.get(f"/v1/decisions/{allowed.json()['decision_id']}", headers=bearer(token("newbie")))
    assert record.json()["user_id"] == "newbie" and record.json()["caller"] == "user:newbie"


def test_body_roles_from_a_jwt_user_are_ignored(secured: TestClient) -> None:
    body = GPU_JOB | {"roles": ["gpu_user", "dgx_access"], "reserve": True}
    response = secured.post("/v1/decisions", json=body, headers=bearer(token("newbie")))
    assert response.status_code == 200
    decision = response.json()
    assert decision["allow"] is False and decision["lien_id"] is None
    assert "gpu.role_required" in {v["code"] for v in decision["violations"]}


def test_body_roles_are_ignored_on_the_compatible_endpoints_too(secured: TestClient) -> None:
    body = {"user_id": "newbie", "cpu_hours": 1, "gpu_hours": 1, "gpus": 1, "roles": ["gpu_user"]}
    response = secured.post("/quota/check", json=body, headers=bearer(token("newbie")))
    assert response.status_code == 200 and response.json()["allow"] is False


def test_jwt_user_may_not_spend_another_users_budget(secured: TestClient, keys: dict[str, str]) -> None:
    body = {"user_id": "bob", "partition": "cpu", "reserve": True}
    response = secured.post("/v1/decisions", json=body, headers=bearer(token("alice")))
    assert response.status_code == 403
    assert "bob" in response.json()["detail"]
    admin = {"X-API-Key": keys["admin"]}
    balances = secured.get("/v1/usage", params={"scope": "user:bob"}, headers=admin).json()["balances"]
    assert all(b["reserved"] == 0 for b in balances)


def test_gateway_key_may_assert_identity_and_roles(secured: TestClient, keys: dict[str, str]) -> None:
    body = GPU_JOB | {"user_id": "newbie", "roles": ["gpu_user"]}
    response = secured.post("/v1/decisions", json=body, headers={"X-API-Key": keys["gateway"]})
    assert response.status_code == 200 and response.json()["allow"] is True


@pytest.mark.parametrize("path", ["/v1/decisions", "/quota/check", "/jobs/evaluate"])
def test_callers_that_speak_for_users_must_name_one(
    secured: TestClient, client: TestClient, keys: dict[str, str], path: str
) -> None:
    """A gateway key and dev mode may decide for anyone, so a body naming no one is incomplete: 422, not 403."""
    body = {"partition": "gpu", "gpus": 1}
    gateway = secured.post(path, json=body, headers={"X-API-Key": keys["gateway"]})
    for response in (gateway, client.post(path, json=body)):
        assert response.status_code == 422, response.text
        problem = response.json()
        assert problem["title"] == "invalid request" and problem["detail"].startswith("user_id is required")
        assert response.headers["content-type"].startswith("application/problem+json")


def test_plain_service_key_may_not_decide_for_users(secured: TestClient, keys: dict[str, str]) -> None:
    body = {"user_id": "alice", "partition": "cpu"}
    response = secured.post("/v1/decisions", json=body, headers={"X-API-Key": keys["service"]})
    assert response.status_code == 403


def test_admin_endpoints_need_the_admin_scope(secured: TestClient, keys: dict[str, str]) -> None:
    grant = {"scope": "user:alice", "kind": "grant", "cpu_hours": 10, "reason": "deadline"}
    assert secured.post("/v1/adjustments", json=grant, headers=bearer(token("alice"))).status_code == 403
    assert secured.post("/v1/adjustments", json=grant, headers={"X-API-Key": keys["gateway"]}).status_code == 403
    assert secured.put("/v1/policy", content="x: 1", headers=bearer(token("alice"))).status_code == 403
    made = secured.post("/v1/adjustments", json=grant, headers={"X-API-Key": keys["admin"]})
    assert made.status_code == 201 and made.json()["author"] == "key:ops"
    admin_token = bearer(token("dan", ["hpc_admin"]))
    assert secured.get("/v1/policy", headers=admin_token).status_code == 200


def test_users_read_only_their_own_balances(secured: TestClient) -> None:
    own = secured.get("/v1/usage", headers=bearer(token("alice")))
    assert own.status_code == 200 and own.json()["scope"] == "user:alice"
    assert secured.get("/v1/usage", params={"scope": "project:wgs-cohort"}, headers=bearer(token("alice"))).is_success
    other = secured.get("/v1/usage", params={"scope": "user:bob"}, headers=bearer(token("alice")))
    assert other.status_code == 403


def test_users_may_not_read_or_report_on_others_jobs(secured: TestClient, keys: dict[str, str]) -> None:
    made = secured.post("/v1/decisions", json={"partition": "cpu", "reserve": True}, headers=bearer(token("alice")))
    ref = made.json()["decision_id"]
    assert secured.get(f"/v1/decisions/{ref}", headers=bearer(token("bob"))).status_code == 403
    assert secured.post(f"/v1/jobs/{ref}/cancel", headers=bearer(token("bob"))).status_code == 403
    # a gateway speaks for users but reports no usage unless its key holds the report scope
    assert secured.post(f"/v1/jobs/{ref}/start", headers={"X-API-Key": keys["gateway"]}).status_code == 403
    assert secured.post(f"/v1/jobs/{ref}/start", headers={"X-API-Key": keys["service"]}).status_code == 200


def test_revoked_key_stops_working_without_restart(secured: TestClient, keys: dict[str, str]) -> None:
    from hpcpolicy.auth import revoke_key

    headers = {"X-API-Key": keys["gateway"]}
    body = {"user_id": "alice", "partition": "cpu"}
    assert secured.post("/v1/decisions", json=body, headers=headers).status_code == 200
    revoke_key(Path(keys["path"]), "api-gateway")
    assert secured.post("/v1/decisions", json=body, headers=headers).status_code == 401


def test_broken_keys_file_fails_closed_with_503(secured: TestClient, keys: dict[str, str]) -> None:
    Path(keys["path"]).write_text("- {name: [unclosed\n")
    response = secured.post("/v1/decisions", json={"partition": "cpu"}, headers={"X-API-Key": keys["gateway"]})
    assert response.status_code == 503
    assert response.json()["title"] == "authentication unavailable"
