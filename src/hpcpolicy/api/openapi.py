"""The OpenAPI document as clients really meet the API: its credentials and its problem+json errors.

FastAPI describes what each route accepts and returns on success, but neither how a caller proves who it
is nor the RFC 7807 bodies of :mod:`hpcpolicy.api.problems`. Rather than repeat that on every route
decorator, :func:`install` post-processes the generated document once, from the routes themselves:

- **Credentials.** An operation needs them when FastAPI lists the ``Authorization`` and ``X-API-Key``
  headers among its parameters: only :func:`hpcpolicy.api.deps.caller` declares them, so they mark every
  handler that depends on the caller (directly or through ``admin``), and this reads nothing but the
  generated document (tests/api/test_openapi.py fails if a route ever escapes it). Such an operation gets
  ``security`` (either scheme below) instead of the two header parameters, so ``/docs`` has an Authorize
  button. ``/health`` and ``/ready`` need none (``/metrics`` is not listed).
- **Errors**, each ``application/problem+json`` with the :data:`PROBLEM` shape:

  ====  =======================================================================================
  401   every operation needing credentials (none, malformed, unknown, or both headers at once)
  403   every operation needing credentials (a missing scope, not an admin, another user's record)
  503   every operation needing credentials (ledger unreachable or too slow; keys misconfigured)
  422   every operation taking input other than credentials (a parameter or a body); the body adds
        ``errors: [{path, message}]`` when a value failed validation, ``issues`` for a refused policy
  400   every operation taking a JSON body (bytes that are not UTF-8 text: FastAPI cannot parse them)
  413   every operation taking a body (larger than the configured limit)
  408   every operation taking a body (it did not arrive within the read timeout)
  404   every operation naming a resource in its path, and ``GET /v1/usage`` (a scope not in the policy)
  409   the job lifecycle (``POST /v1/jobs/{ref}/…``), decisions and adjustments (an idempotency key
        reused for another request, a scheduler job id already bound), ``job_modify`` (a job id bound
        to another lien), withdrawing a held request that is no longer held
  ====  =======================================================================================

FastAPI's default 422 schema (``HTTPValidationError``) is replaced by the problem schema and removed.
``/ready`` also answers 503, with its readiness report (not a problem) naming what is wrong.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from fastapi import FastAPI

from hpcpolicy.api.problems import PROBLEM as PROBLEM_MEDIA_TYPE

Schema = dict[str, Any]
REF = "#/components/schemas/"
CREDENTIAL_HEADERS = {"authorization", "x-api-key"}

SECURITY_SCHEMES: Schema = {
    "apiKey": {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
        "description": "A service key `hpk_<key_id>_<secret>` (`hpcpolicy keys create`). "
        "Also accepted as `Authorization: ApiKey <key>` or `Authorization: Bearer <key>`.",
    },
    "bearer": {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "A user token from the configured issuer: `Authorization: Bearer <JWT>`.",
    },
}
EITHER_SCHEME: list[dict[str, list[str]]] = [{"apiKey": []}, {"bearer": []}]

PROBLEM: Schema = {
    "type": "object",
    "description": "RFC 7807 problem details.",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string", "description": "A URI naming the kind of problem"},
        "title": {"type": "string", "description": "Short, stable summary of the kind"},
        "status": {"type": "integer", "description": "The HTTP status code"},
        "detail": {"type": "string", "description": "What went wrong with this request"},
    },
}
FIELD_ERROR: Schema = {
    "type": "object",
    "required": ["path", "message"],
    "properties": {"path": {"type": "string"}, "message": {"type": "string"}},
}
POLICY_ISSUE: Schema = {
    "type": "object",
    "required": ["source", "line", "path", "message", "severity"],
    "properties": {
        "source": {"type": "string"},
        "line": {"type": ["integer", "null"]},
        "path": {"type": "string"},
        "message": {"type": "string"},
        "severity": {"type": "string", "enum": ["error", "warning"]},
    },
}
COMPONENTS: Schema = {
    "Problem": PROBLEM,
    "FieldError": FIELD_ERROR,
    "PolicyIssue": POLICY_ISSUE,
    "InvalidRequest": {
        "allOf": [{"$ref": REF + "Problem"}],
        "properties": {"errors": {"type": "array", "items": {"$ref": REF + "FieldError"}}},
    },
    "InvalidPolicy": {
        "allOf": [{"$ref": REF + "Problem"}],
        "properties": {"issues": {"type": "array", "items": {"$ref": REF + "PolicyIssue"}}},
    },
}

DESCRIPTIONS = {
    400: "The body could not be parsed (not UTF-8 text)",
    401: "No valid credentials: missing, malformed, unknown, or both headers sent",
    403: "The caller may not do this: a missing scope, not an admin, or another user's record",
    404: "No such resource",
    408: "The request body did not arrive within the read timeout",
    409: "Conflicts with the current state: a job already ended or bound elsewhere, an idempotency key reused",
    413: "The request body is larger than the configured limit",
    422: "Invalid input: the problem names each bad field",
    503: "The ledger cannot be reached or did not answer in time, or credentials cannot be checked",
}
HEADERS = {
    401: {"WWW-Authenticate": {"description": "The accepted schemes", "schema": {"type": "string"}}},
    503: {"Retry-After": {"description": "Seconds to wait before retrying", "schema": {"type": "string"}}},
}
NAMED_BY_QUERY = {("get", "/v1/usage")}
CONFLICTS = {("post", "/v1/decisions"), ("post", "/v1/adjustments"), ("post", "/v1/adapters/slurm/job_modify"),
             ("delete", "/v1/decisions/{decision_id}")}  # fmt: skip


def install(app: FastAPI) -> None:
    """Make ``app.openapi()`` return the post-processed document (FastAPI generates it once and caches it)."""
    generate = app.openapi
    done: list[Schema] = []

    def openapi() -> Schema:
        spec = generate()
        if not done or spec is not done[0]:  # first call, or FastAPI regenerated it (routes were added)
            done[:] = [document(spec)]
        return done[0]

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented way to extend the schema


def document(spec: Schema) -> Schema:
    """Add security and problem responses to FastAPI's document, in place (it is returned for convenience)."""
    components = spec.setdefault("components", {})
    components.setdefault("securitySchemes", {}).update(SECURITY_SCHEMES)
    components.setdefault("schemas", {}).update(COMPONENTS)
    for path, method, operation in _operations(spec):
        secured = _needs_credentials(operation)
        if secured:
            operation["security"] = EITHER_SCHEME
            params = [p for p in operation.get("parameters", []) if not _is_credential(p)]
            operation["parameters"] = params
            if not params:
                del operation["parameters"]
        responses = operation.setdefault("responses", {})
        responses.pop("422", None)
        for status in sorted(statuses(path, method, operation, secured)):
            responses[str(status)] = _problem_response(status, path, method)
    if ready := spec["paths"].get("/ready", {}).get("get"):
        ready["responses"]["503"] = ready["responses"]["200"] | {"description": "Not ready: the checks say why"}
    _drop_unreferenced(components["schemas"], spec, ("HTTPValidationError", "ValidationError"))
    return spec


def statuses(path: str, method: str, operation: Schema, secured: bool) -> set[int]:
    """The error statuses this operation can answer with (the table in the module docstring)."""
    out: set[int] = {401, 403, 503} if secured else set()
    if operation.get("parameters") or "requestBody" in operation:
        out.add(422)
    if "requestBody" in operation:
        out |= {408, 413}
        if "application/json" in operation["requestBody"].get("content", {}):
            out.add(400)
    if "{" in path or (method, path) in NAMED_BY_QUERY:
        out.add(404)
    if (method, path) in CONFLICTS or (method == "post" and path.startswith("/v1/jobs/")):
        out.add(409)
    return out


def _problem_response(status: int, path: str, method: str) -> Schema:
    name = "Problem"
    if status == 422:
        name = "InvalidPolicy" if (method, path) == ("put", "/v1/policy") else "InvalidRequest"
    response: Schema = {
        "description": DESCRIPTIONS[status],
        "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": REF + name}}},
    }
    if status in HEADERS:
        response["headers"] = HEADERS[status]
    return response


def _operations(spec: Schema) -> Iterator[tuple[str, str, Schema]]:
    for path, item in spec.get("paths", {}).items():
        for method, operation in item.items():
            if method in {"get", "put", "post", "delete", "patch", "head", "options"}:
                yield path, method, operation


def _needs_credentials(operation: Schema) -> bool:
    declared = {str(p.get("name", "")).lower() for p in operation.get("parameters", []) if p.get("in") == "header"}
    return declared >= CREDENTIAL_HEADERS


def _is_credential(parameter: Schema) -> bool:
    return parameter.get("in") == "header" and str(parameter.get("name", "")).lower() in CREDENTIAL_HEADERS


def _drop_unreferenced(schemas: Schema, spec: Schema, names: tuple[str, ...]) -> None:
    """Remove FastAPI's validation-error schemas once nothing refers to them (``ValidationError`` is
    referenced only by ``HTTPValidationError``, so the latter goes first)."""
    for name in names:
        if not _refers_to(spec, REF + name):
            schemas.pop(name, None)


def _refers_to(node: Any, ref: str) -> bool:
    if isinstance(node, dict):
        return node.get("$ref") == ref or any(_refers_to(v, ref) for v in node.values())
    if isinstance(node, list):
        return any(_refers_to(v, ref) for v in node)
    return False
