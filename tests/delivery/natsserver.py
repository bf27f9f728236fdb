"""A real ``nats-server`` with JetStream for delivery tests and the benchmark: started on a free port with its
own store directory, killed by PID (SIGKILL, as a crash) and restarted on the same port and store."""

from __future__ import annotations

import asyncio
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import nats
import orjson

from hpcpolicy.delivery.jetstream import SUBJECTS
from tests.replicas.servers import free_port

BINARY = shutil.which("nats-server") or ("/usr/sbin/nats-server" if Path("/usr/sbin/nats-server").exists() else None)


class NatsServer:
    def __init__(self, store: Path, port: int | None = None):
        self.store, self.port = store, port or free_port()
        self.url = f"nats://127.0.0.1:{self.port}"
        self._proc: subprocess.Popen[bytes] | None = None
        self._log = store.parent / f"nats-{self.port}.log"

    def start(self) -> NatsServer:
        assert BINARY is not None, "nats-server is not installed"
        command = [BINARY, "-js", "-sd", str(self.store), "-a", "127.0.0.1", "-p", str(self.port)]
        with self._log.open("ab") as log:
            self._proc = subprocess.Popen(command, stdout=log, stderr=log)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            assert self._proc.poll() is None, self._log.read_text()
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.05)
        raise AssertionError(f"nats-server on {self.port} did not start:\n{self._log.read_text()}")

    def kill(self) -> None:
        """SIGKILL: no flush, no goodbye, as a crash or a lost machine."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.send_signal(signal.SIGKILL)
            self._proc.wait()

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()


Message = tuple[str, dict[str, str], dict[str, Any]]


async def read_stream(url: str, stream: str = "HPCPOLICY_EVENTS") -> list[Message]:
    """Every message of ``stream`` in stream order: (subject, headers, CloudEvent)."""
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        last = (await js.stream_info(stream)).state.last_seq
        sub = await js.subscribe(f"{SUBJECTS}.>", stream=stream, ordered_consumer=True)
        found: list[Message] = []
        while len(found) < last:
            msg = await sub.next_msg(timeout=10)
            found.append((msg.subject, dict(msg.headers or {}), orjson.loads(msg.data)))
        await sub.unsubscribe()
        return found
    finally:
        await nc.close()


def stream_events(url: str, stream: str = "HPCPOLICY_EVENTS") -> list[Message]:
    return asyncio.run(read_stream(url, stream))
