"""Request context as plain ASGI middleware: a request id echoed in ``X-Request-ID``, one JSON access log line.

Plain ASGI rather than Starlette's ``BaseHTTPMiddleware``: the latter runs every request through an extra
task and memory stream, which on a one-millisecond decision is a noticeable share of the time.
"""

from __future__ import annotations

import logging
import random
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hpcpolicy.observability import logs

log = logging.getLogger("hpcpolicy.http")


class RequestContext:
    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = request_id(_header(scope, b"x-request-id"))
        token = logs.request_id.set(rid)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), (b"x-request-id", rid.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            logs.request_id.reset(token)
            if log.isEnabledFor(logging.INFO):
                state: dict[str, Any] = scope.get("state") or {}
                log.info(
                    "request",
                    extra={
                        "request_id": rid,
                        "method": scope["method"],
                        "path": scope["path"],
                        "status": status,
                        "ms": round((time.perf_counter() - started) * 1000, 3),
                        "caller": state.get("caller"),
                    },
                )


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return bytes(value).decode("latin-1")
    return None


def request_id(given: str | None) -> str:
    """The caller's id if it is a sane token (so it can be logged safely), else a new one."""
    if given and len(given) <= 128 and given.replace("-", "").replace("_", "").replace(".", "").isalnum():
        return given
    return f"{_random_bits(128):032x}"


#: Request ids correlate log lines; they must be unique, not secret: the process's generator (reseeded in
#: forked workers) makes them without a system call each.
_random_bits = random.getrandbits
