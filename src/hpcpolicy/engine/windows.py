"""Quota windows as pure functions of a given instant (the caller owns the clock).

A calendar window (``monthly``; since v2 ``{every: quarter, start_month: 7, timezone: …}``) is a run of
periods of 1, 3 or 12 months, the first one starting in ``start_month``; each period starts at local
midnight of its first day in the window's zone (UTC when it names none) and is returned as UTC instants.
A rolling window is the ``rolling_days`` days up to and including ``now``; a fixed allocation is its own
start..end. Usage counts when its time falls in ``[start, end)``.

``defaults.timezone`` is applied once, when a policy is compiled (:func:`in_default_zone`): the engine
and the ledger then only meet windows that carry their own zone, or none (UTC).
"""

from __future__ import annotations

import calendar
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel

from hpcpolicy.policy.schema import CalendarWindow, Every, FixedWindow, Period, Policy, Quota, RollingWindow, Window

#: The smallest step of a stored time (microseconds): makes a rolling window include ``now`` itself.
INSTANT = timedelta(microseconds=1)
#: Months per calendar period. Keyed by the enum members, which also match their plain string values.
MONTHS = {Period.monthly: 1, Period.quarterly: 3, Period.yearly: 12}
EVERY_MONTHS = {Every.month: 1, Every.quarter: 3, Every.year: 12}
#: Zone names that mean UTC: windows in them take the memoised UTC path.
UTC_NAMES = frozenset({"UTC", "Etc/UTC", "Etc/UCT", "UCT", "Etc/Universal", "Universal", "Zulu", "Etc/Zulu"})

Bounds = tuple[datetime, datetime]


def as_utc(moment: datetime) -> datetime:
    """Naive datetimes are taken as UTC; aware ones are converted."""
    tz = moment.tzinfo
    if tz is UTC:  # the common case (every time the service and the simulator make): nothing to do
        return moment
    return moment.replace(tzinfo=UTC) if tz is None else moment.astimezone(UTC)


def calendar_shape(window: Window) -> tuple[int, int, str | None] | None:
    """``(months, start_month, zone)`` of a calendar window (zone None: UTC); None for rolling and fixed."""
    return None if isinstance(window, RollingWindow | FixedWindow) else _shape(window)


def _shape(window: Period | CalendarWindow) -> tuple[int, int, str | None]:
    if isinstance(window, CalendarWindow):
        zone = None if window.timezone is None or window.timezone in UTC_NAMES else window.timezone
        return EVERY_MONTHS[window.every], window.start_month or 1, zone
    return MONTHS[window], 1, None


def is_calendar(window: Window) -> bool:
    """Whether ``window`` repeats (a calendar period), so that it has a previous window and an end to wait for."""
    return not isinstance(window, RollingWindow | FixedWindow)


def window_bounds(window: Window, now: datetime) -> Bounds:
    """The ``[start, end)`` interval of ``window`` that contains ``now`` (or the fixed allocation)."""
    now = as_utc(now)
    if isinstance(window, RollingWindow):
        return now - timedelta(days=window.rolling_days), now + INSTANT
    if isinstance(window, FixedWindow):
        return as_utc(window.start), as_utc(window.end)
    return period_bounds(*_shape(window), now)


def previous_bounds(window: Window, now: datetime) -> Bounds | None:
    """The calendar period just before the one holding ``now`` (for carry-over); None for rolling and fixed."""
    if not is_calendar(window):
        return None
    start, _ = window_bounds(window, now)
    return window_bounds(window, start - INSTANT)


def period_bounds(months: int, first: int, zone: str | None, now: datetime) -> Bounds:
    """The period of ``months`` months from month ``first`` in ``zone`` (None: UTC) holding UTC ``now``."""
    if zone is None:
        return calendar_period(months, now.year, now.month, first)
    for start, end in zoned_periods(months, first, zone, now.year, now.month):
        if now < end:
            return start, end
    raise AssertionError("unreachable: the periods returned cover the UTC month of now")  # pragma: no cover


@lru_cache(maxsize=4096)
def calendar_period(months: int, year: int, month: int, first: int = 1) -> Bounds:
    """The UTC calendar period of ``months`` months (1, 3 or 12), from month ``first``, holding ``year``-``month``.

    Memoised because every decision asks for it once per calendar quota on its path, and the answer
    changes only once a month. The cache holds pure results of integers (bounded: 4096 entries, some 340
    years of months for each period length), so the engine stays a pure function.
    """
    start0 = (year * 12 + month - first) // months * months + first - 1  # months since year 0, 0-based
    end0 = start0 + months
    return datetime(start0 // 12, start0 % 12 + 1, 1, tzinfo=UTC), datetime(end0 // 12, end0 % 12 + 1, 1, tzinfo=UTC)


@lru_cache(maxsize=4096)
def zoned_periods(months: int, first: int, zone: str, year: int, month: int) -> tuple[Bounds, ...]:
    """The periods in ``zone`` that overlap the UTC month ``year``-``month``, in order (one or two).

    Memoised per UTC month, like :func:`calendar_period`, so that a decision pays a zone conversion once
    a month rather than on every call: the caller picks the period whose end is after ``now``.
    """
    tz = ZoneInfo(zone)
    t0 = datetime(year, month, 1, tzinfo=UTC)
    t1 = t0 + timedelta(days=calendar.monthrange(year, month)[1])
    p, start, end = zoned_period(months, first, tz, t0)
    found = [(start, end)]
    while end < t1:
        p += 1
        start, end = end, _edge(p + 1, months, first, tz)
        found.append((start, end))
    return tuple(found)


def zoned_period(months: int, first: int, tz: ZoneInfo, instant: datetime) -> tuple[int, datetime, datetime]:
    """``(index, start, end)`` of the period holding ``instant``: first from its local date, then checked
    against the edges themselves, so the periods tile time even where a local midnight is repeated."""
    local = instant.astimezone(tz)
    p = (local.year * 12 + local.month - first) // months
    start, end = _edge(p, months, first, tz), _edge(p + 1, months, first, tz)
    while instant < start:
        p -= 1
        start, end = _edge(p, months, first, tz), start
    while instant >= end:
        p += 1
        start, end = end, _edge(p + 1, months, first, tz)
    return p, start, end


def _edge(p: int, months: int, first: int, tz: ZoneInfo) -> datetime:
    """The start of period ``p``: local midnight of its first day (the first such instant, ``fold=0``,
    where a midnight repeats; the transition itself where it is skipped), as a UTC instant."""
    m0 = p * months + first - 1
    return datetime(m0 // 12, m0 % 12 + 1, 1, tzinfo=tz).astimezone(UTC)


def is_active(window: Window, now: datetime) -> bool:
    """False only for a fixed allocation whose dates do not include ``now``."""
    if not isinstance(window, FixedWindow):
        return True
    start, end = window_bounds(window, now)
    return start <= as_utc(now) < end


_WORDS = {Every.month: "monthly", Every.quarter: "quarterly", Every.year: "yearly"}
_FISCAL = {Every.quarter: "fiscal quarter", Every.year: "fiscal year"}


def describe(window: Window) -> str:
    """The window as messages name it: ``monthly``, ``fiscal year from Oct (America/New_York)``, ``rolling 30d``."""
    if isinstance(window, FixedWindow):
        return f"{as_utc(window.start).date()}..{as_utc(window.end).date()}"
    if isinstance(window, RollingWindow):
        return f"rolling {window.rolling_days}d"
    if not isinstance(window, CalendarWindow):
        return Period(window).value
    first = window.start_month or 1
    label = _WORDS[window.every] if first == 1 else f"{_FISCAL[window.every]} from {calendar.month_abbr[first]}"
    return f"{label} ({window.timezone})" if window.timezone else label


_EVERY = {1: Every.month, 3: Every.quarter, 12: Every.year}
_LEAVES = frozenset({str, int, float, bool, type(None), datetime})


def in_default_zone(policy: Policy) -> Policy:
    """``policy`` with ``defaults.timezone`` written into every calendar window that names no zone.

    A v1 period (``monthly``) becomes ``{every: month, timezone: <default>}``; a v2 calendar window without
    ``timezone`` gains it. Every quota of the file is found by walking the models, so quotas added to new
    places of the language are covered without a list to keep. Without ``defaults.timezone``, ``policy``
    itself (calendar windows stay UTC, as in v1).
    """
    zone = policy.defaults.timezone
    if zone is None:
        return policy
    zoned: dict[Window, CalendarWindow] = {}  # each distinct window converted once: policies repeat a few

    def in_zone(window: Period | CalendarWindow) -> CalendarWindow:
        if window not in zoned:
            if isinstance(window, CalendarWindow):
                zoned[window] = window.model_copy(update={"timezone": zone})
            else:
                zoned[window] = CalendarWindow(every=_EVERY[MONTHS[window]], timezone=zone)
        return zoned[window]

    result: Policy = _walk(policy, in_zone)
    return result


def _walk(value: Any, in_zone: Callable[[Period | CalendarWindow], CalendarWindow]) -> Any:
    """``value`` with ``in_zone`` applied to the window of every quota without a zone; unchanged parts are
    the same objects, so a walk that changes nothing returns ``value`` itself."""
    if type(value) in _LEAVES:  # most of a policy: names, numbers
        return value
    if isinstance(value, Quota):
        window = value.window
        if isinstance(window, RollingWindow | FixedWindow) or getattr(window, "timezone", None) is not None:
            return value
        return value.model_copy(update={"window": in_zone(window)})
    if isinstance(value, BaseModel):
        updates = {}
        for name in type(value).model_fields:
            old = getattr(value, name)
            if (new := _walk(old, in_zone)) is not old:
                updates[name] = new
        return value.model_copy(update=updates) if updates else value
    if isinstance(value, dict):
        items = {k: _walk(v, in_zone) for k, v in value.items()}
        return items if any(items[k] is not v for k, v in value.items()) else value
    if isinstance(value, list | tuple):
        seq = [_walk(v, in_zone) for v in value]
        return type(value)(seq) if any(a is not b for a, b in zip(seq, value, strict=True)) else value
    return value
