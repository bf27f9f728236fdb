"""The hot routes (decisions, checks, Slurm's submit hook) served without FastAPI's general request machinery.

FastAPI finds a route's arguments per request with a general solver (dependency caches keyed by security
scopes, exit stacks, overrides, a response object, telemetry), and this version matches routes through
one wrapper per included router. Measured in-process (16 requests at a time, alternating runs), serving the
hot routes as below took a reserved decision from 1.65-1.74 to 1.54-1.68 ms of CPU and a read-only check
from 1.03-1.20 to 0.77-1.02 ms. So for each hot route, :func:`install` puts a plain
Starlette route at the front of the router that calls the same endpoint with the same arguments, found by
a solver planned once from the endpoint's FastAPI signature:

- the JSON body, read and validated as FastAPI does (FastAPI's own ``request_body_to_args``: the same 422
  problems, field by field);
- header parameters (FastAPI's ``request_params_to_args``; their defaults when none is sent, :class:`Absent`);
- the ``Request``;
- dependencies that are coroutines of these same kinds, each called once per request, in FastAPI's order:
  a body that is not JSON answers first, then dependencies (authentication: who, before what), then the
  headers and the body are validated and every error goes out in one 422. ``app.dependency_overrides``
  that take no arguments are honoured (tests set them).

The endpoint keeps its FastAPI declaration, so the OpenAPI document and the endpoint's code are FastAPI's
own; a hot endpoint returns a ``Response`` it serialised itself (no second validation of its answer).
A route whose signature needs anything else is refused at start-up (:class:`NotHot`), not served
differently. tests/api/test_hot_routes.py sends the same hostile requests through both paths.
"""

from __future__ import annotations

import email.message
import functools
import inspect
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, HTTPException, Request, Response
from fastapi.dependencies.models import Dependant
from fastapi.dependencies.utils import (
    _get_param_aliases,
    _get_param_model,
    request_body_to_args,
    request_params_to_args,
)
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import BaseModel
from pydantic_core import PydanticUndefined
from starlette.routing import Route

#: (method, path) of the routes served so.
HOT = (("POST", "/v1/decisions"), ("POST", "/quota/check"), ("POST", "/v1/adapters/slurm/job_submit"))


class NotHot(RuntimeError):
    """A hot route's signature needs what :mod:`hot` does not solve (say a query parameter)."""


@dataclass(frozen=True, slots=True)
class Plan:
    """How one dependant's arguments are found: its dependencies' plans, headers, the request's name."""

    dependant: Dependant
    dependencies: tuple[Plan, ...] = field(default=())
    #: When none of these headers (lower-case names) is sent, the header parameters are their defaults.
    absent: Absent | None = None
    #: Header parameters read as they are (all plain optional strings), or None: FastAPI's solver.
    plain: Plain | None = None

    async def solve(self, request: Request, solved: dict[Any, Any], errors: list[Any]) -> dict[str, Any]:
        values: dict[str, Any] = {}
        overrides = request.app.dependency_overrides
        for plan in self.dependencies:
            call, name = plan.dependant.call, plan.dependant.name
            if call in solved:
                if name is not None:
                    values[name] = solved[call]
                continue
            if overrides and call in overrides:
                found = overrides[call]()  # an override takes no arguments here (tests: a fixed resolver)
                solved[call] = found = await found if inspect.isawaitable(found) else found
            else:
                before = len(errors)
                kwargs = await plan.solve(request, solved, errors)
                if len(errors) > before:
                    continue
                assert call is not None
                solved[call] = found = await call(**kwargs)
            if name is not None:  # a route's ``dependencies=[...]`` run for their effect only
                values[name] = found
        if self.plain is not None:
            self.plain.read(request, values)
        elif self.absent is not None and self.absent.holds(request):
            values.update(self.absent.defaults)
        elif self.dependant.header_params:
            headers, bad = request_params_to_args(self.dependant.header_params, request.headers)
            values.update(headers)
            errors.extend(bad)
        if self.dependant.request_param_name:
            values[self.dependant.request_param_name] = request
        return values


@dataclass(frozen=True, slots=True)
class Absent:
    """Header parameters that are all optional with a constant default: when the request sends none of
    them (the usual case: no ``Idempotency-Key``, no ``X-API-Key`` behind a token), FastAPI's solver
    would only hand out the defaults, so they are handed out without it (they need no validation:
    FastAPI does not validate a default either). A request that sends one goes through the solver."""

    names: frozenset[bytes]
    defaults: dict[str, Any]

    def holds(self, request: Request) -> bool:
        return not any(name in self.names for name, _ in request.scope["headers"])

    @classmethod
    def of(cls, dependant: Dependant) -> Absent | None:
        names: set[bytes] = set()
        defaults: dict[str, Any] = {}
        for param in dependant.header_params:
            info = param.field_info
            constant = param.default is None or type(param.default) in (str, int, float, bool)
            if _get_param_model(param) is not None or info.is_required() or info.validate_default or not constant:
                return None
            names |= {key.lower().encode("latin-1") for _, key in _get_param_aliases(param)}
            defaults[param.name] = param.default
        return cls(frozenset(names), defaults) if dependant.header_params else None


@dataclass(frozen=True, slots=True)
class Plain:
    """Header parameters that are all ``str | None`` with no constraint and a default of None (the
    credentials: ``Authorization``, ``X-API-Key``): FastAPI's solver would hand out the first value of the
    header its aliases find first, which validates as itself (a header is text), or None. Read here as it
    does; every request of a service with authentication sends one."""

    #: (parameter name, its header names in FastAPI's order of preference).
    fields: tuple[tuple[str, tuple[str, ...]], ...]

    def read(self, request: Request, values: dict[str, Any]) -> None:
        headers = request.headers
        for name, keys in self.fields:
            values[name] = next((headers[key] for key in keys if key in headers), None)

    @classmethod
    def of(cls, dependant: Dependant) -> Plain | None:
        fields = []
        for param in dependant.header_params:
            info = param.field_info
            plain = info.annotation == str | None and not info.metadata  # Optional[str] compares equal
            if not plain or param.default is not None or info.validate_default or _get_param_model(param) is not None:
                return None
            fields.append((param.name, tuple(key for _, key in _get_param_aliases(param))))
        return cls(tuple(fields)) if fields else None


def plan(dependant: Dependant, *, top: bool = False) -> Plan:
    """The plan of ``dependant``, or :class:`NotHot` if it needs more than the kinds listed above."""
    unsupported = [dependant.path_params, dependant.query_params, dependant.cookie_params,
                   dependant.websocket_param_name, dependant.http_connection_param_name,
                   dependant.response_param_name, dependant.background_tasks_param_name,
                   dependant.security_scopes_param_name, dependant.own_oauth_scopes]  # fmt: skip
    if any(unsupported) or (dependant.body_params and not top):
        raise NotHot(f"{dependant.call}: only a body, headers, the request and dependencies of those kinds")
    if not top and not (inspect.iscoroutinefunction(dependant.call) and dependant.use_cache):
        raise NotHot(f"{dependant.call}: a dependency must be a plain coroutine function")
    return Plan(dependant, tuple(plan(sub) for sub in dependant.dependencies), Absent.of(dependant),
                Plain.of(dependant))  # fmt: skip


def endpoint_of(route: APIRoute) -> Callable[[Request], Awaitable[Response]]:
    """``route``'s endpoint called with the arguments its signature asks for (as above)."""
    top = plan(route.dependant, top=True)
    body_fields = top.dependant.body_params
    if len(body_fields) != 1:
        raise NotHot(f"{route.path}: a hot route takes one JSON body")
    call = route.endpoint

    async def endpoint(request: Request) -> Response:
        body = await _json_body(request)
        errors: list[Any] = []
        kwargs = await top.solve(request, {}, errors)
        values, bad = await request_body_to_args(body_fields, body, False)
        errors.extend(bad)
        if errors:
            raise RequestValidationError(errors, body=body)
        response = await call(**kwargs, **values)
        assert isinstance(response, Response), f"{route.path}: a hot endpoint returns its own Response"
        return response

    return endpoint


async def _json_body(request: Request) -> Any:
    """The body as FastAPI reads a declared JSON body: parsed only when it says it is JSON (else the bytes,
    which validation refuses), a parse error as its 422, any other failure to read it as its 400 (a body
    the limits middleware refused included: that middleware then answers 413 or 408 instead)."""
    try:
        raw = await request.body()
        if not raw:
            return PydanticUndefined  # as FastAPI: the body is missing
        kind = request.headers.get("content-type")
        if kind is None or not _is_json(kind):
            return raw
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        error = {"type": "json_invalid", "loc": ("body", exc.pos), "msg": "JSON decode error", "input": {},
                 "ctx": {"error": exc.msg}}  # fmt: skip
        raise RequestValidationError([error], body=exc.doc) from exc
    except HTTPException:
        raise
    except Exception as exc:  # bytes that are not text, a refused or broken body
        raise HTTPException(400, "There was an error parsing the body") from exc


@functools.lru_cache(maxsize=64)
def _is_json(content_type: str) -> bool:
    """Whether FastAPI reads a body of this ``Content-Type`` as JSON (its own test, through the e-mail parser;
    remembered per header value: clients send the same one again and again)."""
    message = email.message.Message()
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (subtype == "json" or subtype.endswith("+json"))


def answer(model: BaseModel, status_code: int = 200) -> Response:
    """A hot endpoint's answer as JSON, serialised once: returned as a model, FastAPI would validate it against
    the route's ``response_model`` a second time."""
    return Response(model.model_dump_json(), status_code=status_code, media_type="application/json")


def install(app: FastAPI, routes: list[APIRoute], hot: tuple[tuple[str, str], ...] = HOT) -> None:
    """Serve the ``hot`` ones of ``routes`` (the app's, as declared) from routes put first in ``app``'s router."""
    front = []
    for method, path in hot:
        found = [r for r in routes if r.path == path and method in (r.methods or ())]
        if len(found) != 1:
            raise NotHot(f"{method} {path}: no such route")
        front.append(Route(path, endpoint_of(found[0]), methods=[method], name=f"hot:{path}", include_in_schema=False))
    app.router.routes[:0] = front
