"""Many threads reserving against one small budget on SQLite never overspend it; threads running liens'
whole lives at once keep the open liens' running totals exact on every backend."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hpcpolicy.engine import Request
from hpcpolicy.ledger.model import JobUsage
from hpcpolicy.ledger.sql import held_check
from hpcpolicy.service import Governance, PolicyStore
from hpcpolicy.service.context import Context
from tests.ledger.conftest import backend_ledger


@pytest.mark.parametrize("backend", ["sqlite", "postgresql", "mariadb"])
def test_parallel_reservations_never_exceed_the_quota(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """A new user's first reservations, at once, on every backend: on a database server their scopes have
    no lock row yet, and the admissions create them while they race."""
    ledger = backend_ledger(backend, request, tmp_path)
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
    if backend == "sqlite":
        ledger.engine.dispose()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql", "mariadb"])
def test_concurrent_lien_lifecycles_keep_the_open_liens_totals_exact(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Threads reserving, starting, finishing and cancelling liens of one org at once, on each backend: the
    open liens' running totals end equal to the open liens (``db check``), and the org's balance reads them."""
    ledger = backend_ledger(backend, request, tmp_path)
    now = datetime(2026, 11, 16, 10, tzinfo=UTC)  # a Monday morning: every partition open
    env = {"DEFAULT_CPU_HOURS": "1e9", "MAX_CONCURRENT_JOBS": "100000"}
    gov = Governance(Context(ledger, PolicyStore.from_file(None, env=env), clock=lambda: now,
                             lien_ttl=timedelta(hours=2)))  # fmt: skip

    def lifecycle(n: int) -> None:
        user = ("alice", "dan", "erin")[n % 3]
        outcome = gov.decide(Request(user_id=user, partition="cpu", cpus=2 + n % 5, walltime_hours=1,
                                     project="wgs-cohort" if user == "alice" else None), "t", reserve=True)  # fmt: skip
        if outcome.lien_id is None or n % 4 == 0:
            return  # refused, or left open
        if n % 4 == 1:
            gov.jobs.cancel(outcome.lien_id)
            return
        gov.jobs.start(outcome.lien_id, str(10_000 + n))
        if n % 4 == 2:
            gov.jobs.finish(outcome.lien_id, JobUsage(elapsed_hours=0.5), accounting=True)  # sacct-style record

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lifecycle, range(120)))
    assert held_check.check(ledger.engine) == []
    with ledger.session() as tx:
        open_liens = [lien for lien in tx.open_liens() if lien.org == "biocenter"]
        amounts, active = tx.reserved("org:biocenter", now)
    assert active.jobs == len(open_liens) > 0
    assert amounts.cpu_hours == pytest.approx(sum(lien.amounts.cpu_hours for lien in open_liens))
    if backend == "sqlite":
        ledger.engine.dispose()
