"""What a v2 quota does at its edge, compiled once: warnings, overdraft, carry-over, guaranteed shares.

A quota without any of these has ``QuotaRef.soft is None`` and the hot loop never looks here.
"""

from __future__ import annotations

from dataclasses import dataclass

from hpcpolicy.policy.schema.quotas import Metrics, Quota

METRICS = ("cpu_hours", "gpu_hours", "cost")
INF = float("inf")
Triple = tuple[float, float, float]


def triple(metrics: Metrics | None, missing: float) -> Triple:
    """An amount per metric, in ``METERED`` order, ``missing`` where unset."""
    if metrics is None:
        return (missing, missing, missing)
    values = (metrics.cpu_hours, metrics.gpu_hours, metrics.cost)
    return tuple(missing if v is None else v for v in values)  # type: ignore[return-value]


@dataclass(frozen=True, slots=True)
class Share:
    """A child scope's guaranteed part of its parent's quota, and how far beyond it it may borrow.

    ``key`` names the child's use of the parent quota in the usage snapshot (``<parent id>@<child>``).
    """

    scope: str
    key: str
    guaranteed: Triple
    borrow: Triple | None  # None: no borrowing limit


@dataclass(frozen=True, slots=True)
class SoftLimits:
    warn_at: tuple[float, ...]
    overdraft: Triple
    carry: tuple[float, Triple] | None  # (fraction, cap per metric; inf where uncapped)
    shares: tuple[Share, ...]
    reroute: str | None  # the partition a job this quota refuses goes to instead
    reroute_qos: str | None


def soft_limits(quota: Quota, shares: tuple[Share, ...] = ()) -> SoftLimits | None:
    exhausted = quota.on_exhausted
    if not (quota.warn_at or quota.overdraft or quota.carry_over or shares or exhausted):
        return None
    carry = quota.carry_over
    return SoftLimits(
        warn_at=tuple(sorted(quota.warn_at)),
        overdraft=triple(quota.overdraft, 0.0),
        carry=(carry.fraction, triple(carry.max, INF)) if carry is not None else None,
        shares=shares,
        reroute=exhausted.partition if exhausted is not None else None,
        reroute_qos=exhausted.qos if exhausted is not None else None,
    )
