"""job_submit.lua keeps its connection to the service between jobs, with a real slurmctld: jobs share one
connection; one the service closed, or one idle too long, is replaced, and no job fails for it."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from tests.slurm.cluster import SlurmCluster
from tests.slurm.conftest import Service

pytestmark = pytest.mark.slurm_cluster


class CountingRelay:
    """A TCP relay to the service: counts the connections the plugin opens, and can close them all at once
    (as a restarting service, or one closing idle connections, does)."""

    def __init__(self, port: int) -> None:
        self.target = port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.accepted = 0
        self._open: list[socket.socket] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target))
            with self._lock:
                self.accepted += 1
                self._open += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        for conn in (source, sink):
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        with self._lock:
            conns, self._open = self._open, []
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            conn.close()

    def close(self) -> None:
        self.listener.close()
        self.cut()


@pytest.fixture
def relay(plugin: SlurmCluster, service: Service) -> Iterator[CountingRelay]:
    relay = CountingRelay(int(service.url.rsplit(":", 1)[1]))
    plugin.install_plugin(service.plugin(url=f"http://127.0.0.1:{relay.port}"))
    yield relay
    relay.close()


def submit(slurm: SlurmCluster) -> str:
    done = slurm.sbatch("-p", "cpu", "-t", "5", "--hold", "--wrap", "true", user="daemon")
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_jobs_share_one_connection(plugin: SlurmCluster, relay: CountingRelay) -> None:
    jobs = [submit(plugin) for _ in range(3)]
    assert relay.accepted == 1
    plugin.run("scancel", *jobs)


def test_a_connection_the_service_closed_is_replaced_and_no_job_fails(
    plugin: SlurmCluster, relay: CountingRelay
) -> None:
    jobs = [submit(plugin)]
    logged = len(plugin.log_text("slurmctld"))
    relay.cut()  # the service restarts, or closes the idle connection
    time.sleep(0.2)  # the close reaches the controller's side
    jobs.append(submit(plugin))
    assert relay.accepted == 2
    assert "policy service unavailable" not in plugin.log_text("slurmctld")[logged:]
    plugin.run("scancel", *jobs)


def test_a_connection_idle_for_two_seconds_is_not_used_again(plugin: SlurmCluster, relay: CountingRelay) -> None:
    jobs = [submit(plugin)]
    time.sleep(2.2)  # KEEP_IDLE: the service (5 s) could be closing it just as the request goes out
    jobs.append(submit(plugin))
    assert relay.accepted == 2
    plugin.run("scancel", *jobs)
