"""Fixtures for tests/slurm: a real Slurm cluster with the plugin and the service it calls, and the same
service in process (no Slurm) for the adapter and reconciler tests.

Real cluster (``slurm_cluster`` tests), session-wide: ``slurm`` installs Slurm if missing (apt, as root)
and starts munged, slurmdbd (when the local MariaDB answers), slurmctld and slurmd; ``service`` runs
``hpcpolicy serve`` on a free port with ``tests/slurm/policy.yaml``, a temporary SQLite ledger and an API
key that may speak for users; ``accounting`` is the cluster for tests that need sacct. Every daemon is
stopped by PID at the end. Where Slurm cannot be started the tests are skipped locally with the reason,
and fail under CI (``CI`` set), where a real cluster is part of the contract.

In process: ``gov`` (memory and SQLite ledgers, the same policy, a hand-moved clock) and ``fake_users``
(NSS as the cluster sees Debian's system accounts).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import NoReturn

import httpx
import pytest

from hpcpolicy.adapters.slurm.admission import submit_key, token_of
from hpcpolicy.adapters.slurm.identity import UnixUser, UnknownUser
from hpcpolicy.adapters.slurm.plugin import PluginConfig, render
from hpcpolicy.auth import SCOPE_DECIDE, SCOPE_REPORT, create_key
from hpcpolicy.ledger import Lien
from hpcpolicy.ledger.memory import MemoryLedger
from hpcpolicy.ledger.sql.connect import create_ledger_engine, sqlite_url
from hpcpolicy.ledger.sql.ledger import SqlLedger
from hpcpolicy.service import Governance, PolicyStore
from hpcpolicy.service.context import Context
from hpcpolicy.service.reconcile import lien_by_key
from tests.ledger.conftest import sqlite_ledger
from tests.service.conftest import Clock, clock  # noqa: F401 - fixture re-export
from tests.slurm.cluster import ClusterError, SlurmCluster, free_port, install_packages, mariadb_answers

HERE = Path(__file__).parent
POLICY = HERE / "policy.yaml"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slurm_cluster: needs a real single-node Slurm cluster (root, apt)")


def unavailable(reason: str) -> NoReturn:
    if os.environ.get("CI"):
        pytest.fail(f"real Slurm cluster required under CI: {reason}")
    pytest.skip(f"no real Slurm cluster: {reason}")


@pytest.fixture(scope="session")
def slurm() -> Iterator[SlurmCluster]:
    if os.geteuid() != 0:
        unavailable("the harness runs slurmctld/slurmd/munged as root")
    base = Path(tempfile.mkdtemp(prefix="hpcpolicy-slurm-"))
    base.chmod(0o755)  # jobs run as other users and must reach their working directory
    # accounting (slurmdbd) needs the local MariaDB; without it the sync tests alone are left out
    cluster = SlurmCluster(base / "cluster", with_dbd=mariadb_answers())
    try:
        install_packages(with_dbd=cluster.with_dbd)
        # Slurm's default partition is gpu, so a job that names none lands on cpu only if the plugin
        # writes the engine's route back.
        cluster.start(default_partition="gpu")
        if cluster.with_dbd:
            cluster.associate({"daemon": ["chem", "tiny"], "bin": ["ml"], "sys": ["tiny"],
                               "games": ["queue"], "man": ["queue"]})  # as in policy.yaml  # fmt: skip
    except (ClusterError, OSError, subprocess.SubprocessError) as exc:
        cluster.stop()
        shutil.rmtree(base, ignore_errors=True)
        unavailable(str(exc))
    try:
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def accounting(slurm: SlurmCluster) -> SlurmCluster:
    """The cluster, with slurmdbd: tests of ``sacct`` need it (sync is also tested on saved dumps)."""
    if not slurm.with_dbd:
        unavailable("slurmdbd needs MariaDB on 127.0.0.1:3306 (root, no password)")
    return slurm


@dataclass
class Service:
    url: str
    data_dir: Path
    key_file: Path
    process: subprocess.Popen[bytes]
    _ledger: SqlLedger | None = None

    def ledger(self) -> SqlLedger:
        """The service's own SQLite ledger, opened beside it (WAL: readers do not block the service)."""
        if self._ledger is None:
            self._ledger = SqlLedger(create_ledger_engine(sqlite_url(self.data_dir)))
        return self._ledger

    def close(self) -> None:
        if self._ledger is not None:
            self._ledger.engine.dispose()

    def lien_of(self, slurm: SlurmCluster, job_id: str) -> Lien | None:
        """The lien the plugin took for a job, found as the sync finds it: by the token in its AdminComment."""
        token = token_of(slurm.job_field(job_id, "AdminComment"))
        with self.ledger().session() as tx:
            return lien_by_key(tx, submit_key(token)) if token else None

    def plugin(self, *, url: str | None = None, timeout: float = 1.0, fail_open: bool = False) -> str:
        config = PluginConfig(url or self.url, timeout, fail_open, "testcluster", self.key_file)
        return render(config)


@pytest.fixture(scope="session")
def service(slurm: SlurmCluster) -> Iterator[Service]:
    data_dir = slurm.base.parent / "service"
    data_dir.mkdir()
    keys = data_dir / "keys.yaml"
    key, _ = create_key(keys, "slurmctld", [SCOPE_DECIDE, SCOPE_REPORT], may_assert_identity=True)
    key_file = data_dir / "slurmctld.key"
    key_file.write_text(key + "\n")
    key_file.chmod(0o600)
    port = free_port()
    # fair-share factors recomputed every second (not 5 min), so the queue's order follows usage in a test
    env = os.environ | {"HPCPOLICY_KEYS_FILE": str(keys), "HPCPOLICY_FAIRSHARE_RECALC_SECONDS": "1"}
    cmd = [sys.executable, "-m", "hpcpolicy.cli.main", "serve", "--port", str(port), "--data-dir", str(data_dir),
           "--policy", str(POLICY), "--log-level", "warning"]  # fmt: skip
    log = (data_dir / "service.log").open("wb")
    process = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url, process, data_dir / "service.log")
        svc = Service(url, data_dir, key_file, process)
        slurm.install_plugin(svc.plugin())
        yield svc
        svc.close()
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def _wait_ready(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"hpcpolicy serve exited: {log.read_text(errors='replace')[-2000:]}")
        try:
            if httpx.get(f"{url}/ready", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    pytest.fail("hpcpolicy serve did not become ready in 60 s")


@pytest.fixture
def plugin(slurm: SlurmCluster, service: Service) -> Iterator[SlurmCluster]:
    """The cluster with the normal plugin; a test may install another, it is put back afterwards."""
    yield slurm
    slurm.install_plugin(service.plugin())


class HungService:
    """Accepts connections and never answers: a policy service stuck on a lock or a dead database."""

    def __init__(self) -> None:
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.port = self.listener.getsockname()[1]
        self.accepted = threading.Event()
        self._held: list[socket.socket] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self._held.append(conn)
            self.accepted.set()

    def close(self) -> None:
        self.listener.close()
        for conn in self._held:
            conn.close()


@pytest.fixture
def hung_service() -> Iterator[HungService]:
    hung = HungService()
    yield hung
    hung.close()


# -- in-process service over the same policy (no Slurm): for the adapter and reconciler tests ---------------

USERS = {1: UnixUser("daemon", ("daemon",)), 2: UnixUser("bin", ("bin",)), 3: UnixUser("sys", ("sys",)),
         5: UnixUser("games", ("games",)), 6: UnixUser("man", ("man",))}  # fmt: skip


def fake_users(uid: int | None, user_name: str | None) -> UnixUser:
    """NSS as the cluster tests see it (Debian's system accounts), without depending on this host's."""
    for known_uid, user in USERS.items():
        if uid == known_uid or (uid is None and user_name == user.name):
            return user
    raise UnknownUser(f"uid {uid} is unknown on the policy service host")


@pytest.fixture(params=["memory", "sqlite"])
def gov(request: pytest.FixtureRequest, tmp_path: Path, clock: Clock) -> Iterator[Governance]:  # noqa: F811
    ledger = MemoryLedger() if request.param == "memory" else sqlite_ledger(tmp_path)
    policies = PolicyStore.from_file(POLICY, env={})
    yield Governance(Context(ledger, policies, clock=clock, lien_ttl=timedelta(hours=2)))
    if isinstance(ledger, SqlLedger):
        ledger.engine.dispose()
