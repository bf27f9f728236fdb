"""Quotas with an edge (policy v2): carry-over, guaranteed shares, overdraft and warning thresholds.

Checked in the order an admin reads them: the limit grows by the carried-over part of last window's
unused budget; the job's child scope may use what its siblings' unused guarantees leave (and, with a
borrowing limit, no more than its guarantee plus that limit); a job past the limit but within the
overdraft is admitted with a warning; an admitted job past a ``warn_at`` fraction carries a warning.
"""

from __future__ import annotations

from hpcpolicy.engine.codes import Code
from hpcpolicy.engine.decision import Violation, num
from hpcpolicy.engine.quotaref import METERED, QuotaRef
from hpcpolicy.engine.softlimits import SoftLimits
from hpcpolicy.engine.usage import ZERO, UsageSnapshot

_LABELS = ("CPU-hours", "GPU-hours", "cost")
_CODES = (Code.QUOTA_CPU_HOURS, Code.QUOTA_GPU_HOURS, Code.QUOTA_COST)
EPSILON = 1e-9


def check_soft(
    ref: QuotaRef,
    soft: SoftLimits,
    used: tuple[float, float, float],
    wanted: tuple[float, float, float],
    path: tuple[str, ...],
    usage: UsageSnapshot,
    balances: dict[str, float],
    found: list[Violation],
    warnings: list[Violation],
) -> None:
    """The metered checks of one soft quota: fills ``balances``, appends violations and warnings."""
    carried = _carried(ref, soft, usage) if soft.carry is not None else _NONE
    shares = soft.shares
    mine = next((share for share in shares if share.scope in path), None) if shares else None
    for i, limit in ref.metered:
        grown = limit + carried[i]
        plain = available = grown - used[i]
        protected = 0.0
        ceiling = None
        if shares:
            for share in shares:
                if share is not mine:
                    protected += max(share.guaranteed[i] - _amounts(usage, share.key)[i], 0.0)
            available -= protected
            if mine is not None and mine.borrow is not None:
                cap = mine.guaranteed[i] + mine.borrow[i] - _amounts(usage, mine.key)[i]
                if cap < available:
                    available, ceiling = cap, mine.guaranteed[i] + mine.borrow[i]
        want = wanted[i]
        balances[METERED[i]] = available - want
        over = want - available
        if over > EPSILON:
            allowance = soft.overdraft[i]
            if over <= allowance + EPSILON:
                warnings.append(_overdraft(ref, i, grown, over, allowance))
                continue
            reason = ""
            if shares and want <= plain + allowance + EPSILON:  # it fit but for the shares: say so
                reason = (
                    f"; {mine.scope} may use {num(ceiling)} of it at most"  # type: ignore[union-attr]
                    if ceiling is not None
                    else f"; {num(protected)} of the rest is guaranteed to other members of {ref.scope}"
                )
            found.append(_refused(ref, i, grown, want, available, reason))
        elif soft.warn_at and grown > 0:
            fraction = (used[i] + want) / grown
            if fraction >= soft.warn_at[0]:
                passed = [t for t in soft.warn_at if fraction >= t]
                warnings.append(_warning(ref, i, grown, fraction, passed[-1], want, available))


_NONE = (0.0, 0.0, 0.0)


def _carried(ref: QuotaRef, soft: SoftLimits, usage: UsageSnapshot) -> tuple[float, float, float]:
    """What the previous window left unused and carries into this one, per metric (0 without carry_over)."""
    if soft.carry is None:
        return (0.0, 0.0, 0.0)
    fraction, cap = soft.carry
    before = _amounts(usage, ref.id, usage.previous)
    out = [0.0, 0.0, 0.0]
    for i, limit in ref.metered:
        out[i] = min(fraction * max(limit - before[i], 0.0), cap[i])
    return out[0], out[1], out[2]


def _amounts(usage: UsageSnapshot, key: str, table: object = None) -> tuple[float, float, float]:
    found = (usage.consumed if table is None else usage.previous).get(key, ZERO)
    return found.cpu_hours, found.gpu_hours, found.cost


def _refused(ref: QuotaRef, i: int, limit: float, wanted: float, available: float, reason: str) -> Violation:
    code = Code.QUOTA_SHARE if reason else _CODES[i]
    return Violation(
        code,
        f"{_LABELS[i]} {num(wanted)} exceed the {ref.window_label} balance of {num(max(available, 0))} "
        f"(limit {num(limit)}{reason}): over by {num(wanted - available)}",
        ref.id,
        limit,
        wanted,
        available,
    )


def _overdraft(ref: QuotaRef, i: int, limit: float, over: float, allowance: float) -> Violation:
    return Violation(
        Code.QUOTA_OVERDRAFT,
        f"{_LABELS[i]} of {ref.id} go {num(over)} past the {ref.window_label} limit of {num(limit)}, "
        f"into its overdraft of {num(allowance)}",
        ref.id,
        limit,
        over,
        allowance - over,
    )


def _warning(
    ref: QuotaRef, i: int, limit: float, used: float, threshold: float, wanted: float, available: float
) -> Violation:
    return Violation(
        Code.QUOTA_WARN_THRESHOLD,
        f"{_LABELS[i]} of {ref.id} at {used:.0%} of the {ref.window_label} limit of {num(limit)} after this job "
        f"(warns at {threshold:.0%})",
        ref.id,
        round(threshold * limit, 9),
        wanted,
        available,
    )
