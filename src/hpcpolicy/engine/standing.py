"""A quota's standing in its window: used, reserved, left, and where the burn rate takes it. Plain data,
read from the ledger by :mod:`hpcpolicy.service.standings`, shown by the dashboard, judged by the alerts
(:mod:`hpcpolicy.engine.alerts`)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from hpcpolicy.engine.forecast import Forecast

#: A budget this used (charged plus reserved, of its limit) is at risk, as is one running dry before its end.
AT_RISK = 0.8


@dataclass(frozen=True, slots=True)
class MetricStanding:
    """One metered metric of a quota: ``available = limit - charged - reserved``; ``used`` is
    ``(charged + reserved) / limit`` (0 when nothing is used, infinite on a zero limit that is used);
    ``forecast`` projects ``available`` at the recent burn rate."""

    metric: str
    limit: float
    charged: float
    reserved: float
    available: float
    used: float
    forecast: Forecast


@dataclass(frozen=True, slots=True)
class QuotaStanding:
    quota_id: str
    scope: str
    window: str
    window_start: datetime
    window_end: datetime
    metrics: tuple[MetricStanding, ...]
    """The metered metrics this quota limits (none for a quota of concurrency limits only)."""

    @property
    def worst(self) -> MetricStanding | None:
        """The metric closest to its limit."""
        return max(self.metrics, key=lambda m: m.used, default=None)

    @property
    def at_risk(self) -> bool:
        return any(m.used >= AT_RISK or m.forecast.dry_before_end for m in self.metrics)

    @property
    def days_left(self) -> float:
        """How long the first metric to run dry lasts at its burn rate (infinite if none burns)."""
        return min((m.forecast.days_to_dry for m in self.metrics), default=math.inf)


def ranked(standings: Iterable[QuotaStanding]) -> list[QuotaStanding]:
    """At risk first; then the most used; then the soonest dry; then by id."""
    def key(s: QuotaStanding) -> tuple[bool, float, float, str]:
        worst = s.worst
        return (not s.at_risk, -(worst.used if worst else 0.0), s.days_left, s.quota_id)

    return sorted(standings, key=key)



def used_fraction(consumed: float, limit: float) -> float:
    """``consumed / limit``, never below 0 (grants may exceed use); on a zero limit, 0 or infinite."""
    if limit > 0:
        return max(consumed / limit, 0.0)
    return math.inf if consumed > 0 else 0.0
