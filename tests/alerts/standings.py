"""Quota standings as the alert conditions read them, built directly (what ``hpcpolicy.service.standings``
reads from a ledger)."""

from __future__ import annotations

import math
from datetime import UTC, datetime

from hpcpolicy.engine.forecast import Forecast
from hpcpolicy.engine.standing import MetricStanding, QuotaStanding, used_fraction

MONTH = (datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC))
QUIET = Forecast(0.0, math.inf, None, 0.0, False)


def Metric(metric: str, limit: float, charged: float, reserved: float = 0.0,
           forecast: Forecast = QUIET) -> MetricStanding:  # fmt: skip
    consumed = charged + reserved
    return MetricStanding(metric, limit, charged, reserved, limit - consumed, used_fraction(consumed, limit), forecast)


def Quota(quota_id: str, metrics: tuple[MetricStanding, ...], window: str = "monthly",
          window_start: datetime = MONTH[0], window_end: datetime = MONTH[1]) -> QuotaStanding:  # fmt: skip
    return QuotaStanding(quota_id, quota_id.partition("#")[0], window, window_start, window_end, metrics)


def cpu(quota_id: str, charged: float, limit: float = 1000.0, **kw: object) -> QuotaStanding:
    """A quota with one CPU-hour budget, ``charged`` of ``limit`` used."""
    return Quota(quota_id, (Metric("cpu_hours", limit, charged),), **kw)  # type: ignore[arg-type]
