"""Parallel reserve requests over HTTP against one small quota on SQLite never overspend it.

Eight ledger threads (more than the SQLite default of one) so the transactions really contend.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import httpx

from hpcpolicy.api import create_app
from hpcpolicy.auth import Authenticator
from hpcpolicy.service import Governance, PolicyStore
from hpcpolicy.service.context import Context
from tests.api.conftest import dev_settings
from tests.ledger.conftest import sqlite_ledger

NOW = datetime(2026, 11, 15, 12, tzinfo=UTC)


async def _race(app: object, requests: int) -> list[httpx.Response]:
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        body = {"user_id": "racer", "partition": "cpu", "cpu_hours": 7, "reserve": True}
        return list(await asyncio.gather(*(client.post("/v1/decisions", json=body) for _ in range(requests))))


def test_parallel_http_reservations_never_exceed_the_quota(tmp_path: Path) -> None:
    ledger = sqlite_ledger(tmp_path)
    policies = PolicyStore.from_file(None, env={"DEFAULT_CPU_HOURS": "100", "MAX_CONCURRENT_JOBS": "1000"})
    gov = Governance(Context(ledger, policies, clock=lambda: NOW))
    app = create_app(gov, Authenticator(dev_settings()), ledger_workers=8)
    responses = asyncio.run(_race(app, 60))
    assert all(r.status_code == 200 for r in responses)
    admitted = [r.json() for r in responses if r.json()["allow"]]
    assert len(admitted) == 14  # 14 x 7 = 98 fit in 100; a 15th would overspend
    denied = [r.json() for r in responses if not r.json()["allow"]]
    assert all(v["code"] == "quota.cpu_hours_exceeded" for d in denied for v in d["violations"])
    with ledger.session() as tx:
        held, _ = tx.reserved("user:racer", NOW)
        open_ids = {lien.id for lien in tx.open_liens()}
    assert held.cpu_hours == 98
    assert {d["lien_id"] for d in admitted} == open_ids
    app.state.offload.close()
    ledger.engine.dispose()
