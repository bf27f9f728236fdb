"""The admission queue across three server processes on one database: requests held by any replica are
admitted when a slot frees on any other, each exactly once and never past the cap; and when the replica
holding the dispatcher lease is killed, another takes over and admits the rest."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from hpcpolicy.ledger.sql.connect import create_ledger_engine
from hpcpolicy.ledger.sql.tables import leases, liens, queue
from tests.queue.conftest import POLICY
from tests.replicas.servers import replicas, shared_database


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with shared_database(request.param, tmp_path, "_queue") as url:
        yield url


def job(**extra: object) -> dict[str, object]:
    return {"user_id": "u1", "partition": "cpu", "cpus": 1, "walltime_hours": 1, "reserve": True} | extra


def open_jobs(url: str) -> int:
    engine = create_ledger_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(select(liens.c.id).where(liens.c.user_id == "u1",
                                                         liens.c.state.in_(["reserved", "running"]))).all()  # fmt: skip
    finally:
        engine.dispose()
    return len(rows)


def dispatcher_pid(url: str) -> int:
    engine = create_ledger_engine(url)
    try:
        with engine.connect() as conn:
            holder = conn.execute(select(leases.c.holder).where(leases.c.name == "queue-dispatcher")).scalar_one()
    finally:
        engine.dispose()
    return int(holder.split(":")[-2])


def wait_admitted(http: httpx.Client, url: str, decision_id: str, seconds: float = 30) -> dict[str, object]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = http.get(f"{url}/v1/decisions/{decision_id}", params={"wait": 5}).json()
        if found["status"] != "queued":
            return found  # type: ignore[no-any-return]
    raise AssertionError(f"{decision_id} still queued after {seconds} s")


def test_held_requests_are_admitted_across_replicas_and_survive_the_dispatcher(database: str, tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    with replicas(3, database, policy, tmp_path, HPCPOLICY_QUEUE_POLL_SECONDS="0.1") as urls, \
            httpx.Client(timeout=60, limits=httpx.Limits(max_keepalive_connections=0)) as http:  # fmt: skip
        running = [http.post(f"{urls[0]}/v1/decisions", json=job()).json()["lien_id"] for _ in range(2)]
        assert all(running)
        held = []
        for k in range(5):
            answer = http.post(f"{urls[k % 3]}/v1/decisions", json=job(queue=True))
            assert answer.status_code == 202, answer.text
            held.append(answer.json()["decision_id"])
        admitted: list[str] = []
        for k in range(3):  # free a slot on one replica, see the next request admitted on another
            http.post(f"{urls[(k + 2) % 3]}/v1/jobs/{running.pop(0)}/cancel").raise_for_status()
            outcome = wait_admitted(http, urls[(k + 1) % 3], held[k])
            assert outcome["status"] == "admitted" and outcome["lien_id"] == held[k]
            admitted.append(held[k])
            running.append(held[k])
            assert open_jobs(database) <= 2  # the cap holds throughout
        # The replica holding the dispatcher lease dies; another takes the lease when it runs out (10 s).
        os.kill(dispatcher_pid(database), signal.SIGKILL)
        time.sleep(0.5)
        alive = [u for u in urls if _answers(http, u)]
        assert len(alive) == 2
        http.post(f"{alive[0]}/v1/jobs/{running.pop(0)}/cancel").raise_for_status()
        outcome = wait_admitted(http, alive[1], held[3], seconds=45)
        assert outcome["status"] == "admitted"
        assert open_jobs(database) == 2
        engine = create_ledger_engine(database)
        try:
            with engine.connect() as conn:
                states = dict(conn.execute(select(queue.c.id, queue.c.state)).all())
        finally:
            engine.dispose()
        assert [states[i] for i in held] == ["admitted"] * 4 + ["queued"]


def _answers(http: httpx.Client, url: str) -> bool:
    try:
        return http.get(f"{url}/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False
