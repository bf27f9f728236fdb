"""Two ``hpcpolicy serve`` replicas on one SQLite database, audit log on, delivering to one JetStream server
with a 2-second lease: the replica holding the lease is killed (SIGKILL) while decisions keep coming, the other
takes over within the lease's time, and every event arrives in order."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import httpx
from sqlalchemy import select

from hpcpolicy.ledger.sql.audit import head, unsealed
from hpcpolicy.ledger.sql.connect import create_ledger_engine
from hpcpolicy.ledger.sql.ledger import SqlLedger
from hpcpolicy.ledger.sql.tables import leases
from tests.cli.test_serve_follows_keys import within
from tests.delivery.natsserver import NatsServer, stream_events
from tests.delivery.ordering import assert_delivered_in_order
from tests.replicas.servers import replicas

POLICY = Path(__file__).parents[1] / "data" / "policies" / "tight.yaml"
LEASE_SECONDS = 2


def decide(urls: list[str], count: int) -> None:
    with httpx.Client(timeout=10) as http:
        for n in range(count):
            body = {"user_id": "cho", "partition": "cpu", "cpus": 1, "walltime_hours": 1, "reserve": True}
            assert http.post(f"{urls[n % len(urls)]}/v1/decisions", json=body).status_code == 200


def holder(ledger: SqlLedger) -> str | None:
    with ledger.engine.connect() as conn:
        return conn.execute(select(leases.c.holder).where(leases.c.name == "audit:delivery:nats")).scalar()


def alive(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def test_killing_the_delivering_replica_loses_nothing(tmp_path: Path, nats_server: NatsServer) -> None:
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    env = {"HPCPOLICY_AUDIT_LOG": "true", "HPCPOLICY_AUDIT_NATS_URL": nats_server.url,
           "HPCPOLICY_AUDIT_LEASE_SECONDS": str(LEASE_SECONDS)}  # fmt: skip
    ledger = SqlLedger(create_ledger_engine(url), audit=True)

    def all_delivered() -> bool:
        sealed = head(ledger)
        return unsealed(ledger) == 0 and sealed > 0 and len(stream_events(nats_server.url)) >= sealed

    try:
        with replicas(2, url, POLICY, tmp_path, **env) as urls:
            decide(urls, 20)
            within(15, all_delivered)
            first = holder(ledger)
            assert first is not None
            os.kill(int(first.split(":")[1]), signal.SIGKILL)
            survivor = [u for u in urls if alive(u)]
            assert len(survivor) == 1
            decide(survivor, 20)
            took_over = within(4 * LEASE_SECONDS, lambda: holder(ledger) not in (None, first))
            assert took_over <= LEASE_SECONDS + 1.5  # the lease ran out, the survivor's next try took it
            within(15, all_delivered)
        received = [event for _, _, event in stream_events(nats_server.url)]
        assert len(received) == head(ledger) >= 80  # a decision and its lien per request
        assert assert_delivered_in_order(received, ledger) == 0
    finally:
        ledger.engine.dispose()
