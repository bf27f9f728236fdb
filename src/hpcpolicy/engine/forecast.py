"""When will a budget run dry? A burn rate with recent days weighted more, and what it projects.

The method (issue 13), stated once: the consumption of each of the last days (charges dated that day, plus
the part of running jobs' estimates their elapsed time used that day) is averaged with weights halving
every ``half_life_days`` going back — yesterday counts twice as much as three days before with the default
half-life of 3 — so a budget whose burn just doubled is seen burning faster within days, while one busy
day in a quiet month does not swing the forecast. Today, a partial day, is left out (it would read low
every morning). At that rate, the balance left (limit − consumed, open liens included) lasts
``balance / rate`` days: the budget runs dry then, or, if that is after the window ends, the window ends
with ``balance − rate × days left`` unspent. A budget that burns nothing never runs dry.

Pure: daily amounts, a balance and times in, a forecast out (no ledger, no clock).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

#: Recent days weigh more: a day this many days older counts half as much.
HALF_LIFE_DAYS = 3.0
#: Run-dry dates further away than this are not dates anyone plans by (and a datetime cannot hold them all).
HORIZON_DAYS = 36_525.0


@dataclass(frozen=True, slots=True)
class Forecast:
    """``rate_per_day``: the weighted burn rate; ``days_to_dry``: how long the balance lasts at that rate
    (infinite at a rate of zero, 0 if it is spent already); ``runs_dry_at``: that moment (None when it is
    never, or further than a century away); ``balance_at_end``: what the window ends with at that rate
    (negative: the budget would be overrun by that much); ``dry_before_end``: whether it runs dry before
    the window ends."""

    rate_per_day: float
    days_to_dry: float
    runs_dry_at: datetime | None
    balance_at_end: float
    dry_before_end: bool


def burn_rate(daily: Sequence[float], half_life_days: float = HALF_LIFE_DAYS) -> float:
    """The weighted mean of ``daily`` (oldest first, the last entry yesterday's): day ``k`` days before the
    last weighs ``0.5 ** (k / half_life_days)``. Zero for no days. ValueError for a negative, infinite or NaN
    amount or a half-life that is not positive and finite."""
    if not (0 < half_life_days < math.inf):
        raise ValueError(f"half_life_days must be positive and finite, got {half_life_days!r}")
    total = 0.0
    weights, weight_sum = _weights(len(daily), half_life_days)
    for age, (amount, weight) in enumerate(zip(reversed(daily), weights, strict=True)):
        if not (0 <= amount < math.inf):
            raise ValueError(f"daily amounts must be finite and ≥ 0, got {amount!r} {age} days before the last")
        total += weight * amount
    return total / weight_sum if weights else 0.0


@lru_cache(maxsize=64)
def _weights(days: int, half_life_days: float) -> tuple[tuple[float, ...], float]:
    """Each age's weight and their sum (memoised: every quota of an overview asks for the same ones)."""
    each = tuple(0.5 ** (age / half_life_days) for age in range(days))
    return each, sum(each)


def forecast(
    balance: float,
    daily: Sequence[float],
    now: datetime,
    window_end: datetime,
    half_life_days: float = HALF_LIFE_DAYS,
) -> Forecast:
    """What ``balance`` (limit − consumed, open liens included) comes to at the burn rate of ``daily``."""
    if not math.isfinite(balance):
        raise ValueError(f"balance must be finite, got {balance!r}")
    rate = burn_rate(daily, half_life_days)
    days_left = max((window_end - now).total_seconds() / 86400, 0.0)
    at_end = balance - rate * days_left
    if balance <= 0:
        return Forecast(rate, 0.0, now, at_end, True)
    if rate == 0:
        return Forecast(rate, math.inf, None, at_end, False)
    days = balance / rate
    dry = now + timedelta(days=days) if days <= HORIZON_DAYS else None
    return Forecast(rate, days, dry, at_end, days < days_left)


def elapsed_by_day(
    started: datetime, walltime_hours: float, now: datetime, first_day: datetime, days: int
) -> list[float]:
    """The fraction of a running job's walltime spent in each of ``days`` UTC days from ``first_day``
    (midnight), up to ``now``: how much of its estimate it burnt each day. A job past its walltime burns no
    more (its estimate is used up); a job of no walltime burns nothing."""
    out = [0.0] * days
    if not walltime_hours > 0:
        return out
    span = walltime_hours * 3600
    stop = min(now, started + timedelta(seconds=span))
    for k in range(days):
        lo = max(started, first_day + timedelta(days=k))
        hi = min(stop, first_day + timedelta(days=k + 1))
        if hi > lo:
            out[k] = (hi - lo).total_seconds() / span
    return out
