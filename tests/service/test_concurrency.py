"""Many threads reserving against one small budget on SQLite never overspend it."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

from hpcpolicy.engine import Request
from hpcpolicy.service import Governance, PolicyStore
from hpcpolicy.service.context import Context
from tests.ledger.conftest import sqlite_ledger


def test_parallel_reservations_never_exceed_the_quota(tmp_path: Path) -> None:
    ledger = sqlite_ledger(tmp_path)
    env = {"DEFAULT_CPU_HOURS": "100", "MAX_CONCURRENT_JOBS": "1000"}
    gov = Governance(
        Context(ledger, PolicyStore.from_file(None, env=env), clock=lambda: datetime(2026, 11, 15, tzinfo=UTC))
    )
    request = Request(user_id="racer", cpu_hours=7)  # 14 fit in 100, the 15th would not
    with ThreadPoolExecutor(max_workers=16) as pool:
        outcomes = list(pool.map(lambda _: gov.decide(request, "t", reserve=True), range(60)))
    admitted = [o for o in outcomes if o.allow]
    assert len(admitted) == 14
    with ledger.session() as tx:
        held, active = tx.reserved("user:racer", datetime(2026, 11, 15, tzinfo=UTC))
        open_ids = {lien.id for lien in tx.open_liens()}
    assert held.cpu_hours == 98 and active.jobs == 14
    assert {o.lien_id for o in admitted} == open_ids  # every admitted reservation is in the database
    ledger.engine.dispose()
