"""Request bodies at the HTTP edge: a size cap (413) and a deadline for the whole body (408).

Without them a client can make the service buffer a 200 MB body before authentication even runs, or hold
a request open by sending its body a byte at a time. Both refusals are problem details with
``connection: close``: the unread rest of the body must not be parsed as the next request.

- A declared ``Content-Length`` over the limit is refused at once: the route, authentication included,
  never runs and the body is never read. A chunked body (no length) is counted as the app reads it and
  refused when it crosses the limit, so at most one read past the limit is ever held.
- The body timeout is one deadline for the whole body, starting when the app first asks for it (right
  after the headers): a deadline per read would let a client trickle a byte just often enough forever.

Plain ASGI, like :mod:`hpcpolicy.api.middleware`. A request without a body passes straight through; one
with a body costs a timer per read, not a task.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass

from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hpcpolicy.api.problems import problem

MiB = 1024 * 1024


@dataclass(frozen=True)
class BodyLimits:
    """``max_bytes`` for every route, ``max_policy_bytes`` for a policy upload, ``timeout`` seconds for a body."""

    max_bytes: int = 1 * MiB
    max_policy_bytes: int = 8 * MiB
    timeout: float = 30.0


class BodyRefused(Exception):
    """Raised into the app from ``receive`` once its body is refused; the middleware answers instead."""


class LimitBodies:
    """``larger`` maps ``(method, path)`` to a limit above the default (the policy upload)."""

    def __init__(self, app: ASGIApp, limits: BodyLimits, larger: Mapping[tuple[str, str], int] | None = None):
        self.app = app
        self.limits = limits
        self.larger = dict(larger or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.larger.get((scope["method"], scope["path"]), self.limits.max_bytes)
        declared, chunked = _framing(scope)
        if declared is not None and declared > limit:
            await _answer(send, too_large(limit))
            return
        if not declared and not chunked:
            await self.app(scope, receive, send)
            return
        guard = _Guard(receive, send, limit if chunked else None, self.limits.timeout)
        try:
            await self.app(scope, guard.receive, guard.send)
        except Exception:
            if guard.refusal is None or guard.app_started:
                raise  # not ours, or too late to answer: uvicorn closes the connection
        if guard.refusal is not None and not guard.app_started:
            await _answer(send, guard.refusal)  # whatever the app made of the refused body


class _Guard:
    """One request's ``receive`` (counted, under the body deadline) and ``send`` (silenced once refused)."""

    __slots__ = ("_receive", "_send", "app_started", "complete", "deadline", "limit", "received", "refusal", "timeout")

    def __init__(self, receive: Receive, send: Send, limit: int | None, timeout: float):
        self._receive = receive
        self._send = send
        self.limit = limit  # None: the framing (Content-Length) already bounds the body
        self.timeout = timeout
        self.deadline: float | None = None
        self.received = 0
        self.complete = False
        self.refusal: JSONResponse | None = None
        self.app_started = False

    async def receive(self) -> Message:
        if self.complete:  # later reads only wait for a disconnect: no deadline on those
            return await self._receive()
        if self.refusal is not None:
            raise BodyRefused(self.refusal.status_code)
        if self.deadline is None:
            self.deadline = asyncio.get_running_loop().time() + self.timeout
        try:
            async with asyncio.timeout_at(self.deadline):
                message = await self._receive()
        except TimeoutError:
            self.refusal = too_slow(self.timeout)
            raise BodyRefused(408) from None
        if message["type"] != "http.request":
            self.complete = True
            return message
        if self.limit is not None:
            self.received += len(message.get("body", b""))
            if self.received > self.limit:
                self.refusal = too_large(self.limit)
                raise BodyRefused(413)
        self.complete = not message.get("more_body", False)
        return message

    async def send(self, message: Message) -> None:
        if self.refusal is None or self.app_started:  # after a refusal, the app's answer (a 400...) is dropped
            self.app_started = True
            await self._send(message)


def too_large(limit: int) -> JSONResponse:
    return problem(413, "content too large", f"the request body is larger than {limit} bytes", limit=limit)


def too_slow(seconds: float) -> JSONResponse:
    return problem(408, "request timeout", f"the request body did not arrive within {seconds:g} seconds")


def _framing(scope: Scope) -> tuple[int | None, bool]:
    """The declared Content-Length, and whether the body must be counted (chunked, or a length not a number)."""
    declared: int | None = None
    chunked = False
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                declared = int(value)
            except ValueError:
                chunked = True
        elif name == b"transfer-encoding":
            chunked = True
    return declared, chunked


async def _answer(send: Send, response: JSONResponse) -> None:
    headers = [*response.raw_headers, (b"connection", b"close")]
    await send({"type": "http.response.start", "status": response.status_code, "headers": headers})
    await send({"type": "http.response.body", "body": bytes(response.body)})
