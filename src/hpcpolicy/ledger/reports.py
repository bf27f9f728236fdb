"""What reports read from the ledger: charges and adjustments of a period, summed per group.

A chargeback report never loads charges one by one: the ledger sums them per account path and GPU type
(:class:`ChargeGroup`) and adjustments per scope and kind (:class:`AdjustmentGroup`), in SQL on the SQL
ledger (:mod:`.sql.reports`) and with :func:`group` on the in-memory one. Shaping the groups into a
hierarchy is :mod:`hpcpolicy.reports`' job, which knows nothing of storage.

Hours are the **actual** hours (``raw_hours`` on a charge, before the policy's weights; the weighted
hours when the charge was not weighted); cost is what was charged. Adjustment amounts are as stored
(positive; the kind gives the sign: :data:`hpcpolicy.ledger.rules.ADJUSTMENT_SIGN`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

from hpcpolicy.ledger.model import Adjustment, AdjustmentKind, Charge


class ChargeGroup(NamedTuple):
    """Charges of one account path and GPU type in the period: how many, actual hours, cost."""

    org: str | None
    team: str | None
    project: str | None
    user: str
    gpu_type: str | None
    charges: int
    cpu_hours: float
    gpu_hours: float
    cost: float


class AdjustmentGroup(NamedTuple):
    """Adjustments of one kind on one scope (or quota id) in the period, amounts as stored (≥ 0)."""

    scope: str
    kind: AdjustmentKind
    adjustments: int
    cpu_hours: float
    gpu_hours: float
    cost: float


@dataclass(frozen=True, slots=True)
class PeriodSums:
    """Everything a chargeback report reads, from one consistent snapshot of the ledger."""

    charges: list[ChargeGroup]
    adjustments: list[AdjustmentGroup]


def project_scopes(scope: str, project: str) -> bool:
    """Whether an adjustment's scope (or quota id) is ``project``'s own, or one of its members'."""
    return scope.startswith((f"project:{project}#", f"project:{project}/user:")) or scope == f"project:{project}"


def group(
    charges: Iterable[Charge], adjustments: Iterable[Adjustment], start: datetime, end: datetime,
    project: str | None = None,
) -> PeriodSums:  # fmt: skip
    """The sums of the records dated in ``[start, end)`` (of ``project`` only, when given), as the SQL
    ledger's ``GROUP BY`` makes them: the in-memory ledger's report."""
    sums: dict[tuple[str | None, str | None, str | None, str, str | None], list[float]] = {}
    for c in charges:
        if not start <= c.at < end or (project is not None and c.project != project):
            continue
        cpu, gpu = c.raw_hours if c.raw_hours is not None else (c.amounts.cpu_hours, c.amounts.gpu_hours)
        found = sums.setdefault((c.org, c.team, c.project, c.user_id, c.gpu_type), [0, 0.0, 0.0, 0.0])
        found[0] += 1
        found[1] += cpu
        found[2] += gpu
        found[3] += c.amounts.cost
    adjusted: dict[tuple[str, AdjustmentKind], list[float]] = {}
    for a in adjustments:
        if not start <= a.at < end or (project is not None and not project_scopes(a.scope, project)):
            continue
        found = adjusted.setdefault((a.scope, a.kind), [0, 0.0, 0.0, 0.0])
        found[0] += 1
        found[1] += a.amounts.cpu_hours
        found[2] += a.amounts.gpu_hours
        found[3] += a.amounts.cost
    return PeriodSums(
        [ChargeGroup(*key, int(n), cpu, gpu, cost) for key, (n, cpu, gpu, cost) in sums.items()],
        [AdjustmentGroup(*key, int(n), cpu, gpu, cost) for key, (n, cpu, gpu, cost) in adjusted.items()],
    )
