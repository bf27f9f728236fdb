"""Every change of the ledger is in the audit log once: replaying the sealed events of any run of
decisions, starts, finishes, cancellations, adjustments and expiries into an empty in-memory ledger gives
the balances the SQL ledger holds, on every scope (a property over generated runs)."""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hpcpolicy.engine import Amounts, Request
from hpcpolicy.ledger import AdjustmentKind, JobUsage
from hpcpolicy.ledger.event_records import apply
from hpcpolicy.ledger.memory import MemoryLedger
from hpcpolicy.ledger.sql.audit import seal, sealed_events
from hpcpolicy.ledger.sql.ledger import SqlLedger
from hpcpolicy.service import Governance, PolicyStore
from hpcpolicy.service.context import Context
from hpcpolicy.service.errors import ServiceError
from tests.ledger.conftest import sqlite_ledger
from tests.service.conftest import Clock

POLICY = PolicyStore.from_file(None, env={})
USERS = ("alice", "bob", "zed")
SCOPES = ("user:alice", "user:bob", "user:zed", "project:wgs-cohort", "project:variant-calling", "team:genomics",
          "org:biocenter")  # fmt: skip

step = st.one_of(
    st.tuples(st.just("decide"), st.sampled_from(USERS), st.integers(1, 64), st.sampled_from(["cpu", "gpu"])),
    st.tuples(st.just("start"), st.integers(0, 30)),
    st.tuples(st.just("finish"), st.integers(0, 30), st.floats(0.01, 3)),
    st.tuples(st.just("cancel"), st.integers(0, 30)),
    st.tuples(st.just("adjust"), st.sampled_from(SCOPES[3:]), st.sampled_from(list(AdjustmentKind)),
              st.floats(0, 500)),
    st.tuples(st.just("wait"), st.floats(0.1, 3)),  # hours: reserved liens expire after 2
)


def run(gov: Governance, clock: Clock, steps: list[tuple]) -> None:  # type: ignore[type-arg]
    liens: list[str] = []
    for kind, *args in steps:
        try:
            if kind == "decide":
                user, cpus, partition = args
                gpus = 1 if partition == "gpu" else 0
                outcome = gov.decide(Request(user_id=user, partition=partition, cpus=cpus, gpus=gpus), "key:gw",
                                     reserve=True)  # fmt: skip
                liens += [outcome.lien_id] if outcome.lien_id else []
            elif kind in ("start", "finish", "cancel") and liens:
                lien = liens[args[0] % len(liens)]
                if kind == "start":
                    gov.jobs.start(lien, f"job-{lien[:8]}")
                elif kind == "finish":
                    gov.jobs.finish(lien, JobUsage(elapsed_hours=args[1]), accounting=True)
                else:
                    gov.jobs.cancel(lien)
            elif kind == "adjust":
                scope, adjustment, amount = args
                gov.accounts.adjust(scope, adjustment, Amounts(amount, amount / 10, amount), "test", "user:root")
            elif kind == "wait":
                clock.advance(hours=args[0])
                gov.jobs.expire()
        except ServiceError:
            pass  # refused (a finished job cannot start, ...): nothing changed, nothing recorded


def _close(a: Amounts, b: Amounts) -> bool:
    return (a.cpu_hours, a.gpu_hours, a.cost) == pytest.approx((b.cpu_hours, b.gpu_hours, b.cost), abs=1e-6)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(step, min_size=1, max_size=40))
def test_replaying_the_log_gives_the_ledgers_balances(steps: list[tuple]) -> None:  # type: ignore[type-arg]
    clock = Clock(datetime(2026, 11, 15, 12, 0, tzinfo=UTC))
    with tempfile.TemporaryDirectory() as tmp:
        ledger = SqlLedger(sqlite_ledger(Path(tmp)).engine, audit=True)
        gov = Governance(Context(ledger, POLICY, clock=clock, lien_ttl=timedelta(hours=2)))
        run(gov, clock, steps)
        while seal(ledger):
            pass
        replay = MemoryLedger()
        chain = list(sealed_events(ledger))
        for event in chain:
            apply(event, replay)
        start, end, now = datetime(2026, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC), clock.now
        with ledger.session() as tx:
            for scope in SCOPES:  # the same sums, up to the order floats were added in
                assert _close(replay.settled(scope, start, end), tx.settled(scope, start, end)), scope
                (held, active), (held_sql, active_sql) = replay.reserved(scope, now), tx.reserved(scope, now)
                assert _close(held, held_sql) and active == active_sql, scope
        once = [(e.type, e.subject) for e in chain if not e.type.startswith("hpcpolicy.lien.")]
        assert len(once) == len(set(once))  # a decision, charge or adjustment is recorded once
        ledger.engine.dispose()
