"""The admission queue over HTTP with the server's dispatcher running: 202 queued, long-poll, event
stream, cancel, the queue listing, signed callbacks to a real local receiver, and hostile fields."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
from fastapi.testclient import TestClient

from hpcpolicy.api import create_app
from hpcpolicy.auth import Authenticator
from hpcpolicy.service import Governance
from tests.api.conftest import dev_settings
from tests.api.identities import secured_settings, user
from tests.ledger.conftest import sqlite_ledger
from tests.queue.conftest import make_gov
from tests.service.conftest import Clock

SECRET = b"callback-secret"


@pytest.fixture
def gov(tmp_path: Path, clock: Clock) -> Iterator[Governance]:
    ledger = sqlite_ledger(tmp_path)
    gov = make_gov(ledger, tmp_path, clock)
    settings = replace(gov.ctx.queue, callback_prefixes=("http://127.0.0.1:",), callback_secret=SECRET)
    gov = Governance(replace(gov.ctx, queue=settings))
    yield gov
    ledger.engine.dispose()


@pytest.fixture
def client(gov: Governance) -> Iterator[TestClient]:
    with TestClient(create_app(gov, Authenticator(dev_settings())), raise_server_exceptions=False) as client:
        yield client


def job(user: str = "u1", **extra: Any) -> dict[str, Any]:
    return {"user_id": user, "partition": "cpu", "cpus": 1, "walltime_hours": 1, "reserve": True} | extra


def fill(client: TestClient, user: str = "u1") -> list[str]:
    ids = []
    for _ in range(2):
        answer = client.post("/v1/decisions", json=job(user))
        assert answer.status_code == 200 and answer.json()["status"] == "allowed"
        ids.append(answer.json()["decision_id"])
    return ids


def test_held_then_admitted_by_long_poll_without_resubmission(client: TestClient) -> None:
    running = fill(client)
    held = client.post("/v1/decisions", json=job(queue=True))
    assert held.status_code == 202
    body = held.json()
    assert body["status"] == "queued" and body["allow"] is False and body["lien_id"] is None
    assert body["queue"]["position"] == 1 and body["queue"]["blocked_by"] == ["user:u1"]
    assert body["estimate"]["cpu_hours"] == 1
    decision_id = body["decision_id"]
    waited = client.get(f"/v1/decisions/{decision_id}", params={"wait": 0.3})
    assert waited.json()["status"] == "queued"  # nothing freed within the wait
    assert client.post(f"/v1/jobs/{running[0]}/cancel", json={}).status_code == 200
    started = time.monotonic()
    outcome = client.get(f"/v1/decisions/{decision_id}", params={"wait": 10}).json()
    assert outcome["status"] == "admitted" and outcome["allow"] is True
    assert outcome["lien_id"] == decision_id and time.monotonic() - started < 5
    assert client.get(f"/v1/jobs/{decision_id}").json()["state"] == "reserved"


def test_positions_and_the_queue_listing(client: TestClient) -> None:
    fill(client)
    ids = [client.post("/v1/decisions", json=job(queue=True)).json()["decision_id"] for _ in range(3)]
    positions = [client.get(f"/v1/decisions/{i}").json()["queue"]["position"] for i in ids]
    assert positions == [1, 2, 3]
    listing = client.get("/v1/queue").json()["waiting"]
    assert [w["decision_id"] for w in listing] == ids and [w["queue"]["position"] for w in listing] == [1, 2, 3]


def test_cancel_a_held_request(client: TestClient) -> None:
    fill(client)
    decision_id = client.post("/v1/decisions", json=job(queue=True)).json()["decision_id"]
    cancelled = client.delete(f"/v1/decisions/{decision_id}")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    again = client.delete(f"/v1/decisions/{decision_id}")
    assert again.status_code == 409 and "cancelled" in again.json()["detail"]
    assert client.delete("/v1/decisions/no-such-id").status_code == 404


def test_event_stream_ends_with_the_outcome(client: TestClient) -> None:
    running = fill(client)
    decision_id = client.post("/v1/decisions", json=job(queue=True)).json()["decision_id"]
    events: list[tuple[str, dict[str, Any]]] = []

    def read() -> None:
        with client.stream("GET", f"/v1/decisions/{decision_id}/events") as stream:
            name = None
            for line in stream.iter_lines():
                if line.startswith("event: "):
                    name = line.removeprefix("event: ")
                elif line.startswith("data: ") and name:
                    events.append((name, json.loads(line.removeprefix("data: "))))

    reader = threading.Thread(target=read)
    reader.start()
    time.sleep(0.5)
    client.post(f"/v1/jobs/{running[0]}/cancel", json={})
    reader.join(timeout=15)
    assert not reader.is_alive()
    assert [name for name, _ in events] == ["queued", "admitted"]
    assert events[0][1]["queue"]["position"] == 1 and events[1][1]["lien_id"] == decision_id


class Receiver(BaseHTTPRequestHandler):
    received: ClassVar[list[tuple[dict[str, str], bytes]]] = []
    fail_first = 0

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["content-length"]))
        if Receiver.fail_first > 0:
            Receiver.fail_first -= 1
            self.send_response(503)
        else:
            Receiver.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
            self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[str]:
    Receiver.received, Receiver.fail_first = [], 0
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hooks/queue"
    server.shutdown()
    server.server_close()


def test_a_signed_callback_is_sent_once_the_request_is_admitted(client: TestClient, receiver: str) -> None:
    running = fill(client)
    decision_id = client.post("/v1/decisions", json=job(queue=True, callback_url=receiver)).json()["decision_id"]
    client.post(f"/v1/jobs/{running[0]}/cancel", json={})
    deadline = time.monotonic() + 10
    while not Receiver.received and time.monotonic() < deadline:
        time.sleep(0.05)
    (headers, body), *_ = Receiver.received
    signed = hmac.new(SECRET, headers["x-hpcpolicy-timestamp"].encode() + b"." + body, hashlib.sha256).hexdigest()
    assert headers["x-hpcpolicy-signature"] == f"sha256={signed}"
    sent = json.loads(body)
    assert sent["decision_id"] == decision_id and sent["status"] == "admitted" and sent["decision"]["allow"]


def test_a_failing_receiver_is_retried(gov: Governance, client: TestClient, receiver: str) -> None:
    Receiver.fail_first = 1
    running = fill(client)
    decision_id = client.post("/v1/decisions", json=job(queue=True, callback_url=receiver)).json()["decision_id"]
    client.post(f"/v1/jobs/{running[0]}/cancel", json={})
    deadline = time.monotonic() + 10
    while Receiver.fail_first and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not Receiver.received  # the first attempt failed; the next is due 2 s later on the service's clock
    gov.ctx.clock.advance(seconds=3)  # type: ignore[attr-defined]
    while not Receiver.received and time.monotonic() < deadline:
        time.sleep(0.05)
    assert json.loads(Receiver.received[0][1])["decision_id"] == decision_id


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ('"callback_url": "http://169.254.169.254/latest/meta-data"', "callback_url"),  # not an allowed prefix
        ('"callback_url": "http://127.0.0.1:1/\\u0000"', "callback_url"),
        ('"callback_url": "ftp://127.0.0.1:1/x"', "callback_url"),
        ('"callback_url": "http://127.0.0.1:1/' + "a" * 3000 + '"', "callback_url"),
        ('"queue_ttl_seconds": 0', "queue_ttl_seconds"),
        ('"queue_ttl_seconds": 1' + "0" * 400, "queue_ttl_seconds"),
        ('"queue_ttl_seconds": 2678400', "queue_ttl_seconds"),  # 31 days: above the server's maximum of thirty
        ('"queue_ttl_seconds": NaN', "queue_ttl_seconds"),
        ('"queue": "yes please"', "queue"),
        ('"service": "gal\\u0000axy"', "service"),
        ('"service": "' + "s" * 300 + '"', "service"),
        ('"service": 42', "service"),
    ],
)
def test_hostile_queue_fields_are_refused_and_nothing_is_held(client: TestClient, extra: str, field: str) -> None:
    fill(client)
    body = json.dumps(job(queue=True))[:-1] + ", " + extra + "}"
    answer = client.post("/v1/decisions", content=body, headers={"content-type": "application/json"})
    assert 400 <= answer.status_code < 500, answer.text
    assert answer.headers["content-type"] == "application/problem+json" and field in answer.text
    assert client.get("/v1/queue").json()["waiting"] == []


@pytest.fixture
def users_client(gov: Governance, tmp_path: Path) -> Iterator[TestClient]:
    """The same service with users signing in with their own tokens (no dev mode)."""
    app = create_app(gov, Authenticator(secured_settings(tmp_path / "keys.yaml")))
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def test_another_users_held_request_is_not_theirs_to_read_or_cancel(users_client: TestClient) -> None:
    u1 = user("u1")
    for _ in range(2):
        assert users_client.post("/v1/decisions", json=job("u1"), headers=u1).json()["status"] == "allowed"
    held = users_client.post("/v1/decisions", json=job("u1", queue=True), headers=u1)
    assert held.status_code == 202
    decision_id = held.json()["decision_id"]
    u2 = user("u2")
    for method, path in [("GET", f"/v1/decisions/{decision_id}"), ("GET", f"/v1/decisions/{decision_id}/events"),
                         ("DELETE", f"/v1/decisions/{decision_id}"), ("GET", "/v1/queue?user=u1")]:  # fmt: skip
        refused = users_client.request(method, path, headers=u2)
        assert refused.status_code == 403, (method, path, refused.text)
    assert users_client.get("/v1/queue", headers=u2).json()["waiting"] == []  # only their own
    assert users_client.post("/v1/decisions", json=job("u1", queue=True), headers=u2).status_code == 403
    assert [w["decision_id"] for w in users_client.get("/v1/queue", headers=u1).json()["waiting"]] == [decision_id]
    assert users_client.get(f"/v1/decisions/{decision_id}", headers=u1).json()["status"] == "queued"  # still held
