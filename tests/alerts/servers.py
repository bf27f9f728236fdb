"""Real local servers for alert delivery tests: an SMTP server (aiosmtpd) that keeps every message it
accepts and refuses recipients whose address starts with ``bad``, and an HTTP webhook receiver that answers
as its script says (``ok`` once the script runs out) and can be started on a chosen port (a restarted
receiver at the URL the settings name)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Mail:
    sender: str
    recipients: list[str]
    message: EmailMessage


class Mailbox:
    """The aiosmtpd handler: accepted messages, in order."""

    def __init__(self) -> None:
        self.mails: list[Mail] = []

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope, address: str,
                          options: list[str]) -> str:  # fmt: skip
        if address.startswith("bad"):
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.content if isinstance(envelope.content, bytes) else str(envelope.content).encode()
        parsed = message_from_bytes(content, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        self.mails.append(Mail(str(envelope.mail_from), list(envelope.rcpt_tos), parsed))
        return "250 OK"


@contextmanager
def smtp_server() -> Iterator[tuple[int, Mailbox]]:
    box = Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield controller.port, box
    finally:
        controller.stop()


@dataclass
class Hook:
    url: str
    script: list[str] = field(default_factory=list)
    posts: list[dict[str, Any]] = field(default_factory=list)  # bodies of the requests answered 2xx


@contextmanager
def webhook(port: int | None = None, script: list[str] | None = None) -> Iterator[Hook]:
    port = port or free_port()
    hook = Hook(f"http://127.0.0.1:{port}/hooks/T000/B000/secret-token", list(script or []))
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            with lock:
                answer = hook.script.pop(0) if hook.script else "ok"
                if answer == "ok":
                    hook.posts.append(orjson.loads(body))
            self.send_response(200 if answer == "ok" else int(answer))
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    ThreadingHTTPServer.allow_reuse_address = True
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield hook
    finally:
        server.shutdown()
        server.server_close()
