"""Replicas converge: by Redis nudge, by polling without Redis, and by polling while Redis is down.

Each replica has its own store, engine and thread, as a process would. Deadlines are generous caps
(``eventually``); a replica's ``last_reload_via`` says which path delivered the policy.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest

from hpcpolicy.engine import Request
from hpcpolicy.ledger.sql.ledger import SqlLedger
from hpcpolicy.service import Governance, PolicyStore
from hpcpolicy.service.context import Context
from tests.cluster.conftest import Replicas, eventually, example_text
from tests.cluster.redisserver import RedisServer, free_port

GPU_JOB = Request(user_id="alice", partition="gpu", gpus=1)


def serves(store: PolicyStore, role: str) -> bool:
    return f"gpu: {{role: {role}}}" in store.current.text


def test_with_redis_a_nudge_delivers_the_upload(replicas: Replicas, redis_server: RedisServer) -> None:
    a_store, a = replicas.start(redis_server.url, poll=60)  # polling could not explain convergence in 10 s
    b_store, b = replicas.start(redis_server.url, poll=60)
    eventually(lambda: a.status()["redis"] == b.status()["redis"] == "connected")
    a_store.replace(example_text("gpu_wizard"), author="alice")
    eventually(lambda: serves(b_store, "gpu_wizard"))
    assert b.status()["last_reload_via"] == "nudge" and b.status()["revision"] == a.status()["revision"]
    assert a.status()["last_reload_via"] == "upload"


def test_without_redis_polling_delivers_the_upload(replicas: Replicas) -> None:
    a_store, _ = replicas.start(poll=0.2)
    b_store, b = replicas.start(poll=0.2)
    a_store.replace(example_text("gpu_wizard"), author="alice")
    eventually(lambda: serves(b_store, "gpu_wizard"))
    assert b.status()["last_reload_via"] == "poll" and b.status()["redis"] == "disabled"


def test_redis_down_at_start_the_replicas_poll(replicas: Replicas) -> None:
    nowhere = f"redis://127.0.0.1:{free_port()}/0"
    a_store, a = replicas.start(nowhere, poll=0.2)
    b_store, b = replicas.start(nowhere, poll=0.2)
    eventually(lambda: b.status()["redis"] == "unavailable")
    assert "Connection refused" in str(b.status()["redis_error"])
    a_store.replace(example_text("gpu_wizard"), author="alice")  # its publish fails: the upload does not
    assert "Connection refused" in str(a.status()["redis_error"])
    eventually(lambda: serves(b_store, "gpu_wizard"))
    assert b.status()["last_reload_via"] == "poll"


def test_redis_killed_mid_run(
    replicas: Replicas, redis_server: RedisServer, ledger: SqlLedger, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="hpcpolicy.cluster")
    a_store, a = replicas.start(redis_server.url, poll=0.3)
    b_store, b = replicas.start(redis_server.url, poll=0.3)
    gov = Governance(Context(ledger, b_store))
    eventually(lambda: a.status()["redis"] == b.status()["redis"] == "connected")

    redis_server.kill()
    eventually(lambda: a.status()["redis"] == b.status()["redis"] == "unavailable")
    a_store.replace(example_text("gpu_wizard"), author="alice")
    eventually(lambda: _denied_for(gov.decide(GPU_JOB, "test").decision) == "gpu_wizard")  # still deciding
    assert b.status()["last_reload_via"] == "poll"
    eventually(lambda: len(_lines(caplog, "Redis unavailable")) >= 2)  # one per replica ...

    redis_server.start()  # same port
    eventually(lambda: a.status()["redis"] == b.status()["redis"] == "connected")
    assert len(_lines(caplog, "Redis unavailable")) == 2  # ... however many retries failed meanwhile
    assert len(_lines(caplog, "subscribed to Redis")) == 4  # at start and after the restart, per replica
    a_store.replace(example_text("gpu_admin"), author="alice")
    eventually(lambda: serves(b_store, "gpu_admin"))
    assert a.status()["redis_error"] is None  # publishing works again


def _denied_for(decision: dict[str, Any]) -> str | None:
    limits = [v["limit"] for v in decision["violations"] if v["code"] == "gpu.role_required"]
    return limits[0] if limits else None


def _lines(caplog: pytest.LogCaptureFixture, fragment: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if fragment in r.getMessage()]
