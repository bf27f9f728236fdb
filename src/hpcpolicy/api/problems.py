"""RFC 7807 problem details for every error the API returns.

Each body has ``type``, ``title``, ``status`` and ``detail``; validation errors add ``errors`` with the
field path of each bad value; a refused policy adds the linter's ``issues``. A request id (echoed in the
``X-Request-ID`` header) is added by the middleware so a report can be matched with the logs.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from hpcpolicy.auth import AuthConfigError, AuthError
from hpcpolicy.ledger.base import LedgerUnavailable
from hpcpolicy.ledger.deadline import LedgerTimeout
from hpcpolicy.policy import PolicyError
from hpcpolicy.service import ServiceError

log = logging.getLogger("hpcpolicy.api")
PROBLEM = "application/problem+json"


def problem(status: int, title: str, detail: str, **extra: Any) -> JSONResponse:
    slug = title.lower().replace(" ", "-")
    body = {"type": f"https://hpcpolicy.dev/problems/{slug}", "title": title, "status": status, "detail": detail}
    return JSONResponse(body | extra, status_code=status, media_type=PROBLEM)


def install(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"path": ".".join(str(p) for p in e["loc"] if p != "body") or "body", "message": e["msg"]}
            for e in exc.errors()
        ]
        summary = "; ".join(f"{e['path']}: {e['message']}" for e in errors[:5])
        return problem(422, "invalid request", summary, errors=errors)

    @app.exception_handler(ServiceError)
    async def _service(_: Request, exc: ServiceError) -> JSONResponse:
        if exc.errors:
            errors = [{"path": path, "message": message} for path, message in exc.errors]
            return problem(exc.status, exc.title, exc.detail, errors=errors)
        return problem(exc.status, exc.title, exc.detail)

    @app.exception_handler(PolicyError)
    async def _policy(_: Request, exc: PolicyError) -> JSONResponse:
        issues = [i.to_dict() for i in exc.issues]
        errors = [str(i) for i in exc.issues if i.severity == "error"]
        return problem(422, "invalid policy", "; ".join(errors[:5]), issues=issues)

    @app.exception_handler(AuthError)
    async def _auth(_: Request, exc: AuthError) -> JSONResponse:
        response = problem(exc.status, exc.title, str(exc))
        if exc.status == 401:
            response.headers["WWW-Authenticate"] = 'Bearer realm="hpcpolicy", ApiKey'
        return response

    @app.exception_handler(AuthConfigError)
    async def _auth_config(_: Request, exc: AuthConfigError) -> JSONResponse:
        log.error("authentication unavailable: %s", exc)
        return problem(503, "authentication unavailable", "credentials cannot be checked: the keys are misconfigured")

    @app.exception_handler(LedgerUnavailable)
    async def _unavailable(_: Request, exc: LedgerUnavailable) -> JSONResponse:
        log.error("ledger unavailable: %s", exc)
        unreachable = "the usage ledger cannot be reached; nothing was written"
        detail = str(exc) if isinstance(exc, LedgerTimeout) else unreachable
        response = problem(503, "governance unavailable", detail)
        response.headers["Retry-After"] = "5"
        return response

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return problem(exc.status_code, _TITLES.get(exc.status_code, "error"), str(exc.detail))

    @app.exception_handler(Exception)
    async def _crash(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error")
        return problem(500, "internal error", f"{type(exc).__name__}; see the service log")


_TITLES = {400: "malformed body", 404: "not found", 405: "method not allowed", 415: "unsupported media type"}
