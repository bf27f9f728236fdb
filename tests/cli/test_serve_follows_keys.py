"""End to end: ``hpcpolicy keys create`` under a running dev-mode ``hpcpolicy serve`` turns authentication
on within a second, with no restart and no request needed for the log line; removing the file turns it off.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

import hpcpolicy
from hpcpolicy.policy import example_policy_path
from tests.replicas.servers import clean_env, cli, replicas

MADE_UP = {"X-API-Key": "hpk_0123456789abcdef_madeupsecret"}
BODY = {"user_id": "alice", "partition": "cpu"}
CODE = {"PYTHONPATH": str(Path(hpcpolicy.__file__).parents[1])}  # the subprocesses run the code under test


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    """One dev-mode server on 127.0.0.1 whose data directory is ``tmp_path/.hpcpolicy`` (the default)."""
    with replicas(1, f"sqlite:///{tmp_path / 'ledger.db'}", example_policy_path(), tmp_path, **CODE) as [url]:
        yield url


def within(seconds: float, condition: Callable[[], bool]) -> float:
    """How long ``condition`` took to hold; fails after ``seconds``."""
    start = time.monotonic()
    while not condition():
        assert time.monotonic() - start < seconds, f"not within {seconds} s"
        time.sleep(0.05)
    return time.monotonic() - start


def logged(tmp_path: Path, fragment: str) -> bool:
    lines = (tmp_path / "replica-0.log").read_text(errors="replace").splitlines()
    return any(fragment in json.loads(line).get("msg", "") for line in lines if line.startswith("{"))


def test_keys_create_under_a_running_dev_server_turns_authentication_on(server: str, tmp_path: Path) -> None:
    decide = f"{server}/v1/decisions"
    assert httpx.post(decide, json=BODY, headers=MADE_UP).status_code == 200  # dev mode: anything goes
    created = cli("keys", "create", "gateway", "--may-assert-identity", cwd=tmp_path, env=clean_env(**CODE))
    assert created.returncode == 0, created.stderr
    key = {"X-API-Key": created.stdout.strip()}
    keys_file = tmp_path / ".hpcpolicy" / "keys.yaml"
    within(1.5, lambda: logged(tmp_path, f"keys file {keys_file} appeared: authentication is on"))  # no request yet
    assert httpx.post(decide, json=BODY, headers=MADE_UP).status_code == 401
    assert httpx.post(decide, json=BODY).status_code == 401
    assert httpx.post(decide, json=BODY, headers=key).status_code == 200
    keys_file.unlink()
    within(1.5, lambda: logged(tmp_path, f"keys file {keys_file} removed: back to dev mode (loopback only)"))
    assert httpx.post(decide, json=BODY).status_code == 200
