"""A real HTTP receiver of CloudEvents batches on a free port (a threaded ``http.server``), which answers
each request as its script says — ``500``, ``drop`` (read the body, close without answering), or ``ok`` once
the script runs out — and records every request it got."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson


@dataclass
class Received:
    status: str  # what the receiver answered: "ok", "500", "drop"
    headers: dict[str, str]
    body: bytes

    @property
    def events(self) -> list[dict[str, Any]]:
        return list(orjson.loads(self.body))


@dataclass
class Receiver:
    url: str = ""
    script: list[str] = field(default_factory=list)
    requests: list[Received] = field(default_factory=list)

    def accepted(self) -> list[dict[str, Any]]:
        """The events of every request answered 2xx, in arrival order."""
        return [event for got in self.requests if got.status == "ok" for event in got.events]


@contextmanager
def receiver(script: list[str]) -> Iterator[Receiver]:
    state = Receiver(script=list(script))
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            with lock:
                answer = state.script.pop(0) if state.script else "ok"
                state.requests.append(Received(answer, dict(self.headers.items()), body))
            if answer == "drop":
                self.close_connection = True
                return
            self.send_response(200 if answer == "ok" else int(answer))
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}/events"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
