"""Real ``hpcpolicy serve`` processes on one database, started and stopped by PID, for replica tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.dbservers import server_database


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without the developer's HPCPOLICY_* settings (dev mode, no Redis unless given)."""
    unset = ("REDIS_URL", "DATABASE_URL")
    env = {k: v for k, v in os.environ.items() if not k.startswith("HPCPOLICY_") and k not in unset}
    return env | extra


def cli(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "hpcpolicy.cli.main", *args]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False)


@contextmanager
def replicas(count: int, database_url: str, policy: Path, cwd: Path, **env: str) -> Iterator[list[str]]:
    """Migrate once (as a deployment's migration job would), then start ``count`` servers; yield their URLs."""
    environment = clean_env(**env)
    migrated = cli("db", "upgrade", "--database-url", database_url, cwd=cwd, env=environment)
    assert migrated.returncode == 0, migrated.stderr
    procs: list[subprocess.Popen[bytes]] = []
    urls: list[str] = []
    logs = [(cwd / f"replica-{i}.log").open("wb") for i in range(count)]
    try:
        for log in logs:
            port = free_port()
            command = [sys.executable, "-m", "hpcpolicy.cli.main", "serve", "--port", str(port)]
            command += ["--database-url", database_url, "--policy", str(policy), "--log-level", "warning"]
            procs.append(subprocess.Popen(command, cwd=cwd, env=environment, stdout=log, stderr=log))
            urls.append(f"http://127.0.0.1:{port}")
        for proc, url, i in zip(procs, urls, range(count), strict=True):
            wait_ready(proc, url, cwd / f"replica-{i}.log")
        yield urls
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for log in logs:
            log.close()


@contextmanager
def shared_database(kind: str, tmp_path: Path, suffix: str) -> Iterator[str]:
    """The URL every replica of a test opens: a SQLite file, or a fresh database on the ``kind`` server
    (``suffix`` tells the test packages' databases apart), dropped afterwards."""
    if kind == "sqlite":
        yield f"sqlite:///{tmp_path / 'shared.db'}"
        return
    with server_database(kind, suffix=suffix) as url:
        yield url


def wait_ready(proc: subprocess.Popen[bytes], url: str, log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"replica {url} exited with {proc.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(f"{url}/ready", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"replica {url} not ready after 60 s:\n{log.read_text()}")
