"""A throwaway PostgreSQL server of the tests' own, so a test can really kill and restart it.

The shared server on 5432 serves every other test and must not be touched; this one lives in a temporary
directory on a free port, run as the ``postgres`` user with the machine's PostgreSQL binaries.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.replicas.servers import free_port


def _bindir() -> Path | None:
    root = Path("/usr/lib/postgresql")
    versions = sorted(root.iterdir(), key=lambda p: int(p.name)) if root.is_dir() else []
    return versions[-1] / "bin" if versions else None


class PrivatePostgres:
    def __init__(self, bindir: Path, home: Path, port: int):
        self.bindir, self.home, self.port = bindir, home, port
        self.data = home / "data"
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"

    def _as_postgres(self, *args: str) -> None:
        command = ["runuser", "-u", "postgres", "--", *args]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} failed: {done.stdout}{done.stderr}")

    def init(self) -> None:
        self._as_postgres(str(self.bindir / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres")

    def start(self) -> None:
        options = f"-p {self.port} -k {self.home} -c listen_addresses=127.0.0.1"
        log = str(self.home / "server.log")
        self._as_postgres(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-o", options, "-l", log, "-w", "start")

    def kill(self) -> None:
        """Stop without a clean shutdown (as a crash does): the next start runs crash recovery."""
        self._as_postgres(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")


@contextmanager
def private_postgres() -> Iterator[PrivatePostgres]:
    bindir = _bindir()
    missing = None
    if bindir is None or not (bindir / "initdb").exists():
        missing = "PostgreSQL server binaries not installed"
    elif os.geteuid() != 0 or shutil.which("runuser") is None:
        missing = "needs root (runuser) to run a private PostgreSQL as the postgres user"
    if missing:
        if os.environ.get("CI"):
            pytest.fail(missing)
        pytest.skip(missing)
    assert bindir is not None
    home = Path(tempfile.mkdtemp(prefix="hpcpolicy-pg-"))
    shutil.chown(home, "postgres", "postgres")
    server = PrivatePostgres(bindir, home, free_port())
    try:
        server.init()
        server.start()
        yield server
    finally:
        with contextlib.suppress(RuntimeError):  # already stopped
            server.kill()
        shutil.rmtree(home, ignore_errors=True)
