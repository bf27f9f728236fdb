"""Quota windows as pure functions of a given instant (the caller owns the clock).

Calendar periods start at the period's first instant in UTC; a rolling window is the ``rolling_days``
days up to and including ``now``; a fixed allocation is its own start..end. Usage counts when its time
falls in ``[start, end)``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hpcpolicy.policy.schema import FixedWindow, Period, RollingWindow, Window

#: The smallest step of a stored time (microseconds): makes a rolling window include ``now`` itself.
_INSTANT = timedelta(microseconds=1)


def as_utc(moment: datetime) -> datetime:
    """Naive datetimes are taken as UTC; aware ones are converted."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def window_bounds(window: Window, now: datetime) -> tuple[datetime, datetime]:
    """The ``[start, end)`` interval of ``window`` that contains ``now`` (or the fixed allocation)."""
    now = as_utc(now)
    if isinstance(window, FixedWindow):
        return as_utc(window.start), as_utc(window.end)
    if isinstance(window, RollingWindow):
        return now - timedelta(days=window.rolling_days), now + _INSTANT
    months = {Period.monthly: 1, Period.quarterly: 3, Period.yearly: 12}[Period(window)]
    first_month = (now.month - 1) // months * months + 1
    start = datetime(now.year, first_month, 1, tzinfo=UTC)
    end_month0 = first_month - 1 + months
    end = datetime(now.year + end_month0 // 12, end_month0 % 12 + 1, 1, tzinfo=UTC)
    return start, end


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
