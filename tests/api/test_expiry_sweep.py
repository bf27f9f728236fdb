"""The service sweeps the reservations that lapsed: marked expired, taken off the open liens' running totals,
and (audit log on) each told in the log, without a scheduler reporting anything."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from hpcpolicy.api import app as app_module
from hpcpolicy.api import create_app
from hpcpolicy.auth import Authenticator
from hpcpolicy.ledger.sql.connect import create_ledger_engine
from hpcpolicy.ledger.sql.held_check import check
from hpcpolicy.ledger.sql.ledger import SqlLedger
from hpcpolicy.ledger.sql.migrate import upgrade
from hpcpolicy.ledger.sql.tables import events, held_totals, liens
from hpcpolicy.service import Governance, PolicyStore
from hpcpolicy.service.context import Context
from tests.api.conftest import dev_settings
from tests.service.conftest import Clock

JOB = {"user_id": "alice", "partition": "cpu", "cpus": 8, "walltime_hours": 2, "reserve": True}


def test_a_lapsed_reservation_is_swept_while_the_service_runs(
    tmp_path: Path, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(app_module, "EXPIRE_EVERY", 1)
    engine = create_ledger_engine(f"sqlite:///{tmp_path / 'ledger.db'}")
    upgrade(engine)
    ledger = SqlLedger(engine, audit=True)
    gov = Governance(Context(ledger, PolicyStore.from_file(None, env={}), clock=clock, lien_ttl=timedelta(hours=2)))
    with TestClient(create_app(gov, Authenticator(dev_settings()))) as client:
        kept = client.post("/v1/decisions", json=JOB).json()["lien_id"]
        clock.advance(hours=1)
        lapsing = client.post("/v1/decisions", json=JOB).json()["lien_id"]
        clock.advance(hours=2, minutes=30)  # past the first one's TTL (2 h), not the second's
        client.post(f"/v1/jobs/{lapsing}/start", json={"job_id": "77"})  # started in time: never lapses
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and _state(engine, kept) != "expired":
            time.sleep(0.1)
    assert _state(engine, kept) == "expired"
    assert _state(engine, lapsing) == "running"
    with engine.connect() as conn:
        alice = conn.execute(select(held_totals.c.jobs).where(held_totals.c.scope == "user:alice")).scalars().all()
        told = conn.execute(select(events.c.subject).where(events.c.type == "hpcpolicy.lien.expired")).scalars().all()
    assert sum(alice) == 1  # the running job alone
    assert told == [kept]
    assert check(engine) == []
    engine.dispose()


def _state(engine: object, lien_id: str) -> str:
    with engine.connect() as conn:  # type: ignore[attr-defined]
        return str(conn.execute(select(liens.c.state).where(liens.c.id == lien_id)).scalar_one())
