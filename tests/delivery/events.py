"""Sealed audit events for delivery tests and the benchmark: realistic decision events, written through the
ledger session (as the service writes them) and sealed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hpcpolicy.ledger import DecisionRecord
from hpcpolicy.ledger.events import decision_event
from hpcpolicy.ledger.sql.audit import seal
from hpcpolicy.ledger.sql.ledger import SqlLedger

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def decision(n: int) -> DecisionRecord:
    user = f"user{n % 97}"
    request = {"user_id": user, "project": f"proj{n % 13}", "partition": "gpu", "cpus": 8, "gpus": 1,
               "memory_gb": 64, "walltime_hours": 4, "reserve": True}  # fmt: skip
    answer = {"allow": n % 5 != 0, "account_path": [f"user:{user}", f"project:proj{n % 13}", "org:lab"],
              "violations": [] if n % 5 else [{"code": "QUOTA_EXCEEDED"}], "warnings": [],
              "route": {"cluster": "helix", "partition": "gpu"},
              "estimate": {"cpu_hours": 32.0, "gpu_hours": 4.0, "cost": 12.5}}  # fmt: skip
    return DecisionRecord(f"d-{n}", T0 + timedelta(seconds=n), "key:gateway", user, bool(n % 5), "example@1",
                          request, answer, f"l-{n}" if n % 5 else None)  # fmt: skip


def fill(ledger: SqlLedger, count: int, start: int = 0, per_transaction: int = 500) -> None:
    """Record ``count`` decision events (numbered from ``start``) and seal them all."""
    for first in range(start, start + count, per_transaction):
        with ledger.session() as tx:
            for n in range(first, min(start + count, first + per_transaction)):
                tx.record(decision_event(decision(n), request_id=f"req-{n}"))
    while seal(ledger):
        pass
