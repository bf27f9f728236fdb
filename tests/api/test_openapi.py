"""The OpenAPI document declares how callers authenticate and the problem+json errors each route gives."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from hpcpolicy.auth import AuthSettings, create_key
from tests.api.conftest import AppFactory

PROBLEM = "application/problem+json"
PUBLIC = {("get", "/health"), ("get", "/ready")}


@pytest.fixture
def spec(client: TestClient) -> dict[str, Any]:
    response = client.get("/openapi.json")  # as served, so the post-processing is proven wired into the app
    assert response.status_code == 200
    return dict(response.json())


def operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(method, path, op) for path, item in spec["paths"].items() for method, op in item.items()]


def test_both_credentials_are_declared_as_security_schemes(spec: dict[str, Any]) -> None:
    schemes = spec["components"]["securitySchemes"]
    assert schemes["apiKey"] | {"description": ""} == {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
        "description": "",
    }
    assert (schemes["bearer"]["type"], schemes["bearer"]["scheme"], schemes["bearer"]["bearerFormat"]) == (
        "http",
        "bearer",
        "JWT",
    )


def test_every_route_but_health_and_ready_requires_either_credential(spec: dict[str, Any]) -> None:
    for method, path, op in operations(spec):
        expected = None if (method, path) in PUBLIC else [{"apiKey": []}, {"bearer": []}]
        assert op.get("security") == expected, (method, path)
        headers = {p["name"].lower() for p in op.get("parameters", []) if p["in"] == "header"}
        assert not headers & {"authorization", "x-api-key"}, (method, path)  # the schemes describe them


@pytest.mark.parametrize(
    ("method", "path", "statuses"),
    [
        ("get", "/health", set()),
        ("get", "/v1/policy", {401, 403, 503}),
        ("put", "/v1/policy", {401, 403, 408, 413, 422, 503}),
        ("post", "/quota/check", {400, 401, 403, 408, 413, 422, 503}),
        ("post", "/v1/decisions", {400, 401, 403, 408, 409, 413, 422, 503}),
        ("get", "/v1/decisions/{decision_id}", {401, 403, 404, 422, 503}),
        ("get", "/v1/jobs/{ref}", {401, 403, 404, 422, 503}),
        ("post", "/v1/jobs/{ref}/finish", {400, 401, 403, 404, 408, 409, 413, 422, 503}),
        ("get", "/v1/usage", {401, 403, 404, 422, 503}),
        ("post", "/v1/adjustments", {400, 401, 403, 408, 409, 413, 422, 503}),
        ("post", "/v1/adapters/slurm/job_submit", {400, 401, 403, 408, 413, 422, 503}),
        ("post", "/v1/adapters/slurm/job_modify", {400, 401, 403, 408, 409, 413, 422, 503}),
    ],
)
def test_each_route_documents_the_errors_it_can_give(
    spec: dict[str, Any], method: str, path: str, statuses: set[int]
) -> None:
    responses = spec["paths"][path][method]["responses"]
    errors = {int(code) for code in responses if int(code) >= 400}
    assert errors == statuses
    for status in statuses:
        assert list(responses[str(status)]["content"]) == [PROBLEM], status


def test_every_error_response_is_a_problem(spec: dict[str, Any]) -> None:
    schemas = spec["components"]["schemas"]
    for method, path, op in operations(spec):
        for code, response in op["responses"].items():
            if int(code) < 400 or (method, path) == ("get", "/ready"):
                continue
            ref = response["content"][PROBLEM]["schema"]["$ref"].rsplit("/", 1)[-1]
            schema = schemas[ref]
            assert ref == "Problem" or schema["allOf"] == [{"$ref": "#/components/schemas/Problem"}], (path, code)
            if code == "422":
                assert ref == ("InvalidPolicy" if path == "/v1/policy" else "InvalidRequest")
    assert set(schemas["Problem"]["required"]) == {"type", "title", "status", "detail"}
    assert "WWW-Authenticate" in spec["paths"]["/v1/policy"]["get"]["responses"]["401"]["headers"]
    assert "503" in spec["paths"]["/ready"]["get"]["responses"]  # its readiness report, not a problem


def test_fastapis_validation_error_schema_is_gone(spec: dict[str, Any]) -> None:
    assert not {"HTTPValidationError", "ValidationError"} & set(spec["components"]["schemas"])
    assert "HTTPValidationError" not in str(spec)


def test_real_errors_have_the_documented_shape(
    make_client: AppFactory, client: TestClient, spec: dict[str, Any], tmp_path: Path
) -> None:
    keys_file = tmp_path / "keys.yaml"
    key, _ = create_key(keys_file, "reporter", ["decide"])
    keyed = make_client(
        AuthSettings(_env_file=None, keys_file=keys_file, api_keys=None, jwt_secret=None, jwt_public_key=None)
    )
    answers = {
        401: keyed.get("/v1/policy"),
        403: keyed.get("/v1/policy", headers={"X-API-Key": key}),
        404: client.get("/v1/jobs/no-such-job"),
        422: client.post("/v1/decisions", json={"user_id": "alice", "cpus": "many"}),
    }
    schemas = spec["components"]["schemas"]
    for status, response in answers.items():
        assert response.status_code == status
        assert response.headers["content-type"] == PROBLEM
        body = response.json()
        assert set(schemas["Problem"]["required"]) <= set(body) and body["status"] == status
    errors = answers[422].json()["errors"]
    assert errors and all(set(e) == set(schemas["FieldError"]["required"]) for e in errors)
    assert errors[0]["path"] == "cpus"
