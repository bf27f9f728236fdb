"""Kill PostgreSQL (an immediate shutdown, as a crash) in the middle of reservation traffic, restart it,
and check that the balances are exact afterwards.

A request caught by the crash gets a 503, but its commit may or may not have reached the disk; the
client resolves that the way a real client must, by retrying with the same ``Idempotency-Key`` once the
service is back: a committed decision is returned as a replay, an uncommitted one is decided afresh.
After that, what the clients were told and what the database holds must match exactly.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
from sqlalchemy import select

from hpcpolicy.ledger.sql.connect import create_ledger_engine
from hpcpolicy.ledger.sql.ledger import SqlLedger
from hpcpolicy.ledger.sql.tables import decisions, liens
from hpcpolicy.service import Governance, PolicyStore
from hpcpolicy.service.context import Context
from tests.failures.privatepg import private_postgres
from tests.replicas.servers import replicas

POLICY = Path(__file__).parents[1] / "data" / "policies" / "tight.yaml"
THREADS = 8
PER_THREAD = 40
BUDGET = 60.0  # user:solo's monthly CPU-hours in tight.yaml


BODY = {"user_id": "solo", "partition": "cpu", "cpus": 1, "walltime_hours": 0.25, "reserve": True}


def traffic_through_a_crash(url: str, kill_and_restart: Callable[[], None]) -> dict[str, httpx.Response]:
    """Eight clients reserving with idempotency keys; the database is killed and restarted meanwhile."""
    answers: dict[str, httpx.Response] = {}
    lock = threading.Lock()
    sent = threading.Semaphore(0)

    def client(t: int) -> None:
        with httpx.Client(base_url=url, timeout=30) as http:
            for n in range(PER_THREAD):
                key = f"t{t}-{n}"
                response = http.post("/v1/decisions", json=BODY, headers={"Idempotency-Key": key})
                with lock:
                    answers[key] = response
                sent.release()
                time.sleep(0.005)

    threads = [threading.Thread(target=client, args=(t,)) for t in range(THREADS)]
    for thread in threads:
        thread.start()
    for _ in range(60):  # let some traffic commit first
        sent.acquire()
    kill_and_restart()
    for thread in threads:
        thread.join(120)
    return answers


def resolve_with_retries(url: str, answers: dict[str, httpx.Response]) -> None:
    """Once the service is ready again, retry every 503 with its key: replayed if committed, else decided."""
    with httpx.Client(base_url=url, timeout=30) as http:
        deadline = time.monotonic() + 30
        while http.get("/ready").status_code != 200:
            assert time.monotonic() < deadline, "the service did not recover by itself"
            time.sleep(0.2)
        for key, response in list(answers.items()):
            if response.status_code == 503:
                answers[key] = http.post("/v1/decisions", json=BODY, headers={"Idempotency-Key": key})
                assert answers[key].status_code == 200, answers[key].text


def test_killing_and_restarting_postgres_during_traffic_leaves_balances_exact(tmp_path: Path) -> None:
    with private_postgres() as pg:

        def crash() -> None:
            pg.kill()
            time.sleep(1.0)
            pg.start()

        with replicas(1, pg.url, POLICY, tmp_path) as [url]:
            answers = traffic_through_a_crash(url, crash)
            assert any(r.status_code == 503 for r in answers.values()), "the crash hit no request"
            assert all(r.status_code in (200, 503) for r in answers.values())
            resolve_with_retries(url, answers)

        told = [r.json() for r in answers.values()]
        admitted = {d["lien_id"]: d["estimate"]["cpu_hours"] for d in told if d["allow"]}
        engine = create_ledger_engine(pg.url)
        try:
            with engine.connect() as conn:
                lien_ids = set(conn.scalars(select(liens.c.id)))
                records = set(conn.scalars(select(decisions.c.key)))
            gov = Governance(Context(SqlLedger(engine), PolicyStore.from_file(POLICY, env={})))
            [cpu] = [b for b in gov.accounts.balances("user:solo") if b.metric == "cpu_hours"]
        finally:
            engine.dispose()

    assert len(answers) == THREADS * PER_THREAD
    assert records == set(answers)  # one decision record per request, none lost, none doubled
    assert lien_ids == set(admitted)  # every admitted reservation and nothing else
    assert cpu.reserved == sum(admitted.values())  # the balance is exactly what the clients were told
    assert cpu.reserved <= BUDGET and cpu.limit == BUDGET
    assert any(not d["allow"] for d in told)  # the budget ran out: admission really was contended
