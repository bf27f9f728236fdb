"""Quota windows as pure functions of a given instant (the caller owns the clock).

Calendar periods start at the period's first instant in UTC; a rolling window is the ``rolling_days``
days up to and including ``now``; a fixed allocation is its own start..end. Usage counts when its time
falls in ``[start, end)``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import lru_cache

from hpcpolicy.policy.schema import FixedWindow, Period, RollingWindow, Window

#: The smallest step of a stored time (microseconds): makes a rolling window include ``now`` itself.
INSTANT = timedelta(microseconds=1)
#: Months per calendar period. Keyed by the enum members, which also match their plain string values.
MONTHS = {Period.monthly: 1, Period.quarterly: 3, Period.yearly: 12}


def as_utc(moment: datetime) -> datetime:
    """Naive datetimes are taken as UTC; aware ones are converted."""
    tz = moment.tzinfo
    if tz is UTC:  # the common case (every time the service and the simulator make): nothing to do
        return moment
    return moment.replace(tzinfo=UTC) if tz is None else moment.astimezone(UTC)


def window_bounds(window: Window, now: datetime) -> tuple[datetime, datetime]:
    """The ``[start, end)`` interval of ``window`` that contains ``now`` (or the fixed allocation)."""
    now = as_utc(now)
    if isinstance(window, RollingWindow):
        return now - timedelta(days=window.rolling_days), now + INSTANT
    if isinstance(window, FixedWindow):
        return as_utc(window.start), as_utc(window.end)
    return calendar_period(MONTHS[window], now.year, now.month)


@lru_cache(maxsize=4096)
def calendar_period(months: int, year: int, month: int) -> tuple[datetime, datetime]:
    """The calendar period of ``months`` months (1, 3 or 12) holding ``year``-``month``, in UTC.

    Memoised because every decision asks for it once per calendar quota on its path, and the answer
    changes only once a month. The cache holds pure results of three integers (bounded: 4096 entries,
    some 340 years of months for each period length), so the engine stays a pure function.
    """
    first_month = (month - 1) // months * months + 1
    end_month0 = first_month - 1 + months
    start = datetime(year, first_month, 1, tzinfo=UTC)
    return start, datetime(year + end_month0 // 12, end_month0 % 12 + 1, 1, tzinfo=UTC)


def is_active(window: Window, now: datetime) -> bool:
    """False only for a fixed allocation whose dates do not include ``now``."""
    if not isinstance(window, FixedWindow):
        return True
    start, end = window_bounds(window, now)
    return start <= as_utc(now) < end


def describe(window: Window) -> str:
    if isinstance(window, FixedWindow):
        return f"{as_utc(window.start).date()}..{as_utc(window.end).date()}"
    if isinstance(window, RollingWindow):
        return f"rolling {window.rolling_days}d"
    return Period(window).value
