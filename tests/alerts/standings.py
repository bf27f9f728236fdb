"""Quota standings as the alert conditions read them, built directly (the shape of
``hpcpolicy.service.standings``)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime

from hpcpolicy.engine.forecast import Forecast

MONTH = (datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC))
QUIET = Forecast(0.0, math.inf, None, 0.0, False)


@dataclass(frozen=True, slots=True)
class Metric:
    metric: str
    limit: float
    charged: float
    reserved: float = 0.0
    forecast: Forecast = QUIET
    available: float = field(init=False)
    used: float = field(init=False)

    def __post_init__(self) -> None:
        consumed = self.charged + self.reserved
        object.__setattr__(self, "available", self.limit - consumed)
        used = consumed / self.limit if self.limit else (math.inf if consumed else 0.0)
        object.__setattr__(self, "used", used)


@dataclass(frozen=True, slots=True)
class Quota:
    quota_id: str
    metrics: tuple[Metric, ...]
    window: str = "monthly"
    window_start: datetime = MONTH[0]
    window_end: datetime = MONTH[1]

    @property
    def scope(self) -> str:
        return self.quota_id.partition("#")[0]


def cpu(quota_id: str, charged: float, limit: float = 1000.0, **kw: object) -> Quota:
    """A quota with one CPU-hour budget, ``charged`` of ``limit`` used."""
    return Quota(quota_id, (Metric("cpu_hours", limit, charged),), **kw)  # type: ignore[arg-type]
