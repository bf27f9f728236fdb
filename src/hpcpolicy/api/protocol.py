"""uvicorn's HTTP protocol with a deadline for request headers (against slowloris).

uvicorn times only idle keep-alive connections, and that timer stops at the first byte of a new request:
a client that opens a connection and sends nothing, half a request line, or its headers a byte at a time
holds the connection (a file descriptor, a slot under any connection limit) forever, and the ASGI app
never sees it. :class:`HeaderDeadline` starts one timer when a connection opens and when a request
begins, and cancels it when the headers are complete: the whole head must arrive within the deadline,
however it is trickled. A request that arrives whole in one read (the usual case) never arms a timer.

On expiry a client that sent part of a request gets 408 problem details and the connection closes; one
that sent nothing is closed without a word, as uvicorn closes an idle keep-alive connection.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from hpcpolicy.api.problems import PROBLEM, problem

log = logging.getLogger("hpcpolicy.http")


def with_header_timeout(seconds: float) -> type[asyncio.Protocol]:
    """The protocol class to give ``uvicorn.run(http=...)``: headers must arrive within ``seconds``."""

    class Protocol(HeaderDeadline):
        header_timeout = seconds

    return Protocol


class HeaderDeadline(HttpToolsProtocol):
    header_timeout: float = 10.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_timer: asyncio.TimerHandle | None = None
        self._in_headers = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._header_timer = self.loop.call_later(self.header_timeout, self._headers_late)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self._in_headers and self._header_timer is None and not self.transport.is_closing():
            self._header_timer = self.loop.call_later(self.header_timeout, self._headers_late)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_headers = True

    def on_headers_complete(self) -> None:
        self._in_headers = False
        self._cancel_header_timer()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_header_timer()
        super().connection_lost(exc)

    def _cancel_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_late(self) -> None:
        self._header_timer = None
        if self.transport.is_closing():
            return
        if self.cycle is not None and not self.cycle.response_complete:
            self.cycle.keep_alive = False  # a response is still going out: let it finish, then close
            return
        if self._in_headers:
            client = f"{self.client[0]}:{self.client[1]}" if self.client else None
            log.info("request headers too slow: 408", extra={"client": client, "seconds": self.header_timeout})
            self.transport.write(self._timeout_response())
            self.transport.close()  # the rest of the request is never read
        else:
            self.transport.close()  # nothing of a request arrived: an idle connection

    def _timeout_response(self) -> bytes:
        detail = f"the request headers did not arrive within {self.header_timeout:g} seconds"
        body = bytes(problem(408, "request timeout", detail).body)
        head = [STATUS_LINE[408]]
        for name, value in self.server_state.default_headers:
            head += [name, b": ", value, b"\r\n"]
        head.append(b"content-type: %s\r\ncontent-length: %d\r\n" % (PROBLEM.encode(), len(body)))
        return b"".join([*head, b"connection: close\r\n\r\n", body])
