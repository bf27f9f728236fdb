"""Request limits at the HTTP edge, against a real ``hpcpolicy serve`` over raw sockets: what a TestClient
cannot show (a body never sent, a request line cut in half, headers or bodies trickled) and that the
settings reach the server. Authentication is on (a keys file), timeouts are 1 s, limits are small."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from hpcpolicy.auth import create_key
from tests.replicas.servers import clean_env, free_port, wait_ready

TIMEOUT = 1.0  # header and body timeouts of the server under test, in seconds
MAX_BODY = 64 * 1024
MAX_POLICY = 256 * 1024
SLACK = 2.5  # how late a cut may come on a loaded two-core machine
JOB = {"user_id": "alice", "partition": "cpu", "cpus": 1, "walltime_hours": 1}


@dataclass
class Server:
    port: int
    pid: int
    gateway: str  # a decide key that may name users
    admin: str

    def get(self, path: str) -> httpx.Response:
        return httpx.get(f"http://127.0.0.1:{self.port}{path}", timeout=5)

    def connect(self) -> socket.socket:
        return socket.create_connection(("127.0.0.1", self.port), timeout=10)

    def rss_kib(self) -> int:
        status = Path(f"/proc/{self.pid}/status").read_text()
        return int(next(line for line in status.splitlines() if line.startswith("VmRSS:")).split()[1])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data = tmp_path_factory.mktemp("edge")
    gateway, _ = create_key(data / "keys.yaml", "api-gateway", ["decide"], may_assert_identity=True)
    admin, _ = create_key(data / "keys.yaml", "ops", ["admin"])
    port = free_port()
    env = clean_env(
        HPCPOLICY_HEADER_TIMEOUT_SECONDS=str(TIMEOUT),
        HPCPOLICY_BODY_TIMEOUT_SECONDS=str(TIMEOUT),
        HPCPOLICY_MAX_BODY_BYTES=str(MAX_BODY),
        HPCPOLICY_MAX_POLICY_BYTES=str(MAX_POLICY),
    )
    command = [sys.executable, "-m", "hpcpolicy.cli.main", "serve", "--port", str(port), "--data-dir", str(data)]
    with (data / "serve.log").open("wb") as log:
        proc = subprocess.Popen([*command, "--log-level", "warning"], env=env, stdout=log, stderr=log)
    try:
        wait_ready(proc, f"http://127.0.0.1:{port}", data / "serve.log")
        yield Server(port, proc.pid, gateway, admin)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def head(method: str, path: str, *headers: str) -> bytes:
    return "\r\n".join([f"{method} {path} HTTP/1.1", "Host: test", *headers, "", ""]).encode()


def read_answer(sock: socket.socket, limit: float = 10.0) -> tuple[float, int | None, dict[str, object] | None]:
    """Seconds until the server closed the connection, the status it sent (None: closed without a word), its body."""
    started = time.monotonic()
    sock.settimeout(limit)
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except ConnectionResetError:
        pass  # a close with our unread bytes still queued is a reset; what arrived before it still counts
    elapsed = time.monotonic() - started
    if not data:
        return elapsed, None, None
    head_, _, body = data.partition(b"\r\n\r\n")
    return elapsed, int(head_.split(b" ")[1]), json.loads(body) if body else None


def pump(sock: socket.socket, data: bytes, times: int) -> threading.Thread:
    """Keep sending ``data`` in the background until the server hangs up (or ``times`` sends)."""

    def run() -> None:
        try:
            for _ in range(times):
                sock.sendall(data)
        except OSError:
            pass

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_a_200_mb_body_is_refused_at_once_unread_and_unauthenticated(server: Server) -> None:
    rss_before = server.rss_kib()
    for _ in range(3):
        with server.connect() as sock:
            sent = time.monotonic()
            sock.sendall(head("POST", "/v1/decisions", "Content-Type: application/json", "Content-Length: 209715200"))
            sender = pump(sock, b"x" * 65536, 3200)  # 200 MB, if the server would take it
            _, status, body = read_answer(sock)
            answered = time.monotonic() - sent
            sender.join(10)
        assert status == 413 and body is not None and body["limit"] == MAX_BODY  # before the 401: nothing read
        assert answered < TIMEOUT, f"413 after {answered:.2f} s"
        assert not sender.is_alive()  # the server hung up rather than swallow the rest
    health = server.get("/health")
    assert health.status_code == 200 and health.elapsed.total_seconds() < 0.5
    assert server.rss_kib() - rss_before < 16 * 1024, "the server's memory grew by the body it refused"


def test_a_chunked_body_is_cut_when_it_crosses_the_limit(server: Server) -> None:
    with server.connect() as sock:
        sock.sendall(head("POST", "/v1/decisions", "Content-Type: application/json", "Transfer-Encoding: chunked"))
        chunk = b"x" * 4096
        sender = pump(sock, b"%x\r\n%s\r\n" % (len(chunk), chunk), 50_000)  # 200 MB
        _, status, body = read_answer(sock)
        sender.join(10)
    assert status == 413 and body is not None and body["title"] == "content too large"


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_body_exactly_at_the_limit_is_decided(server: Server, chunked: bool) -> None:
    text = json.dumps(JOB).encode()
    body = text + b" " * (MAX_BODY - len(text))
    content = iter([body[: MAX_BODY // 2], body[MAX_BODY // 2 :]]) if chunked else body
    headers = {"X-API-Key": server.gateway, "Content-Type": "application/json"}
    response = httpx.post(f"http://127.0.0.1:{server.port}/v1/decisions", content=content, headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["allow"] is True


def test_a_policy_upload_between_the_two_limits_reaches_the_linter(server: Server) -> None:
    url = f"http://127.0.0.1:{server.port}/v1/policy"
    not_a_policy = b"# " + b"x" * (MAX_POLICY // 2) + b"\nclusters: nope\n"  # over the body limit, under the policy's
    response = httpx.put(url, content=not_a_policy, headers={"X-API-Key": server.admin})
    assert response.status_code == 422 and response.json()["title"] == "invalid policy", response.text
    too_big = httpx.put(url, content=b"#" * (MAX_POLICY + 1), headers={"X-API-Key": server.admin})
    assert too_big.status_code == 413 and too_big.json()["limit"] == MAX_POLICY


def test_half_a_request_line_gets_408_within_the_header_timeout(server: Server) -> None:
    with server.connect() as sock:
        sock.sendall(b"POST /v1/deci")
        elapsed, status, body = read_answer(sock)
    assert status == 408 and body is not None and "headers" in str(body["detail"])
    assert TIMEOUT * 0.8 < elapsed < TIMEOUT + SLACK


def test_a_connection_that_sends_nothing_is_closed_within_the_header_timeout(server: Server) -> None:
    with server.connect() as sock:
        elapsed, status, _ = read_answer(sock)
    assert status is None  # no request, no answer: just closed, like an idle keep-alive connection
    assert TIMEOUT * 0.8 < elapsed < TIMEOUT + SLACK


def test_the_next_request_on_a_kept_alive_connection_is_timed_from_its_first_byte(server: Server) -> None:
    with server.connect() as sock:
        sock.sendall(head("GET", "/health"))
        first = sock.recv(65536)
        assert first.startswith(b"HTTP/1.1 200") and b"connection: close" not in first.lower()
        time.sleep(TIMEOUT * 0.6)  # idle between requests: uvicorn's keep-alive timer (5 s), not ours
        sock.sendall(b"GET /hea")  # uvicorn stops its keep-alive timer here
        elapsed, status, _ = read_answer(sock)
    assert status == 408
    assert TIMEOUT * 0.8 < elapsed < TIMEOUT + SLACK


def test_headers_trickled_a_byte_at_a_time_are_cut_off(server: Server) -> None:
    request = head("GET", "/health", *(f"X-Padding-{i}: {'y' * 20}" for i in range(20)))
    with server.connect() as sock:
        started = time.monotonic()
        sock.settimeout(0.25)
        received = b""
        for byte in request:  # one byte every 0.25 s: each gap short, the whole head 2 minutes
            try:
                sock.sendall(bytes([byte]))
                chunk = sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                break
            received += chunk
            if not chunk:
                break
        elapsed = time.monotonic() - started
    assert received.startswith(b"HTTP/1.1 408"), received
    assert elapsed < TIMEOUT + SLACK


@pytest.mark.parametrize("trickle", [False, True], ids=["stalled", "trickled"])
def test_a_body_that_does_not_arrive_in_time_gets_408(server: Server, trickle: bool) -> None:
    with server.connect() as sock:
        sock.sendall(head("POST", "/v1/decisions", "Content-Type: application/json", "Content-Length: 1000") + b"{")
        if trickle:  # a byte every 0.2 s: the deadline is for the whole body, not for each read
            threading.Thread(target=_trickle, args=(sock, 50, 0.2), daemon=True).start()
        elapsed, status, body = read_answer(sock)
    assert status == 408 and body is not None and "body" in str(body["detail"])
    assert body["type"] == "https://hpcpolicy.dev/problems/request-timeout"
    assert TIMEOUT * 0.8 < elapsed < TIMEOUT + SLACK


def test_health_answers_while_slow_clients_hang(server: Server) -> None:
    slow = [server.connect() for _ in range(6)]
    try:
        for i, sock in enumerate(slow):
            if i % 2:
                sock.sendall(b"GET /hea")
            else:
                sock.sendall(head("POST", "/v1/decisions", "Content-Length: 500") + b"{")
        for _ in range(3):
            response = server.get("/health")
            assert response.status_code == 200 and response.elapsed.total_seconds() < 0.5
            time.sleep(0.1)
    finally:
        for sock in slow:
            sock.close()


def _trickle(sock: socket.socket, count: int, every: float) -> None:
    try:
        for _ in range(count):
            time.sleep(every)
            sock.sendall(b" ")
    except OSError:
        pass

