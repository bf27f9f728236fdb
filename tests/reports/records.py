"""Charges and adjustments for report tests, written through a ledger session as the service writes them."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from hpcpolicy.engine import Amounts
from hpcpolicy.ledger import Adjustment, AdjustmentKind, Charge
from hpcpolicy.reports import Placement

OCTOBER = datetime(2026, 10, 1, tzinfo=UTC)
NOVEMBER = datetime(2026, 11, 1, tzinfo=UTC)
#: The policy's nesting in these tests: p1 and p2 in team t1 of org o1, p3 in t2 of o2; t3 has no project.
PLACEMENT = Placement(
    {"p1": ("t1", "o1"), "p2": ("t1", "o1"), "p3": ("t2", "o2")}, {"t1": "o1", "t2": "o2", "t3": "o2"}
)


def charge(
    charge_id: str,
    at: datetime = OCTOBER,
    amounts: Amounts = Amounts(1.0, 0.0, 1.0),
    *,
    user: str = "alice",
    path: tuple[str | None, str | None, str | None] = ("p1", "t1", "o1"),
    gpu_type: str | None = None,
    raw: tuple[float, float] | None = None,
) -> Charge:
    project, team, org = path
    return Charge(charge_id, None, None, user, project, team, org, "c", "cpu", amounts, at, "sync", None, gpu_type, raw)


def adjustment(
    adjustment_id: str,
    scope: str,
    kind: AdjustmentKind = AdjustmentKind.GRANT,
    amounts: Amounts = Amounts(1.0, 1.0, 1.0),
    at: datetime = OCTOBER,
) -> Adjustment:
    return Adjustment(adjustment_id, scope, kind, amounts, "test", "dev", at)


def record(ledger: object, charges: Iterable[Charge] = (), adjustments: Iterable[Adjustment] = ()) -> None:
    with ledger.session() as tx:  # type: ignore[attr-defined]
        for c in charges:
            tx.add_charge(c)
        for a in adjustments:
            tx.add_adjustment(a)
