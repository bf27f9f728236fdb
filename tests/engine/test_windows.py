"""Quota windows as pure functions of a given instant."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hpcpolicy.engine import window_bounds
from hpcpolicy.engine.windows import as_utc, describe, is_active
from hpcpolicy.policy.schema import FixedWindow, Period, RollingWindow


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


@pytest.mark.parametrize(
    ("period", "now", "start", "end"),
    [
        (Period.monthly, utc(2026, 3, 15, 12), utc(2026, 3, 1), utc(2026, 4, 1)),
        (Period.monthly, utc(2026, 2, 28, 23, 59), utc(2026, 2, 1), utc(2026, 3, 1)),
        (Period.monthly, utc(2026, 12, 31, 23, 59), utc(2026, 12, 1), utc(2027, 1, 1)),  # December rolls over
        (Period.monthly, utc(2027, 1, 1), utc(2027, 1, 1), utc(2027, 2, 1)),  # the first instant belongs
        (Period.quarterly, utc(2026, 1, 1), utc(2026, 1, 1), utc(2026, 4, 1)),
        (Period.quarterly, utc(2026, 3, 31, 23), utc(2026, 1, 1), utc(2026, 4, 1)),
        (Period.quarterly, utc(2026, 5, 20), utc(2026, 4, 1), utc(2026, 7, 1)),
        (Period.quarterly, utc(2026, 9, 30), utc(2026, 7, 1), utc(2026, 10, 1)),
        (Period.quarterly, utc(2026, 11, 5), utc(2026, 10, 1), utc(2027, 1, 1)),  # Q4 rolls over
        (Period.yearly, utc(2026, 1, 1), utc(2026, 1, 1), utc(2027, 1, 1)),
        (Period.yearly, utc(2026, 12, 31, 23, 59), utc(2026, 1, 1), utc(2027, 1, 1)),
    ],
)
def test_calendar_periods(period: Period, now: datetime, start: datetime, end: datetime) -> None:
    assert window_bounds(period, now) == (start, end)


def test_naive_now_is_taken_as_utc() -> None:
    assert window_bounds(Period.monthly, datetime(2026, 12, 31, 23, 30)) == (utc(2026, 12, 1), utc(2027, 1, 1))
    assert as_utc(datetime(2026, 5, 1, 8)) == utc(2026, 5, 1, 8)


def test_aware_now_is_converted_to_utc_first() -> None:
    # 00:30 on 1 January in UTC+2 is still 31 December in UTC
    new_year_east = datetime(2027, 1, 1, 0, 30, tzinfo=timezone(timedelta(hours=2)))
    assert window_bounds(Period.monthly, new_year_east) == (utc(2026, 12, 1), utc(2027, 1, 1))
    assert window_bounds(Period.yearly, new_year_east) == (utc(2026, 1, 1), utc(2027, 1, 1))


def test_rolling_window_is_the_last_n_days_up_to_now() -> None:
    now = utc(2026, 3, 15, 12)
    start, end = window_bounds(RollingWindow(rolling_days=30), now)
    assert start == utc(2026, 2, 13, 12)
    assert start <= now < end <= now + timedelta(milliseconds=1)  # usage recorded at ``now`` counts
    start, end = window_bounds(RollingWindow(rolling_days=1), datetime(2026, 3, 1))  # naive: UTC
    assert start == utc(2026, 2, 28) and start < utc(2026, 3, 1) < end
    assert describe(RollingWindow(rolling_days=30)) == "rolling 30d"


def test_fixed_window_is_its_own_dates() -> None:
    grant = FixedWindow(start=datetime(2026, 1, 1), end=datetime(2027, 7, 1))
    for now in (utc(2020, 1, 1), utc(2026, 6, 1), utc(2030, 1, 1)):
        assert window_bounds(grant, now) == (utc(2026, 1, 1), utc(2027, 7, 1))
    assert describe(grant) == "2026-01-01..2027-07-01"


@pytest.mark.parametrize(
    ("now", "active"),
    [
        (utc(2025, 12, 31, 23, 59, 59), False),
        (utc(2026, 1, 1), True),
        (datetime(2026, 1, 1), True),  # naive
        (utc(2027, 6, 30, 23, 59), True),
        (utc(2027, 7, 1), False),
    ],
)
def test_fixed_window_activity(now: datetime, active: bool) -> None:
    grant = FixedWindow(start=datetime(2026, 1, 1), end=datetime(2027, 7, 1))
    assert is_active(grant, now) is active


def test_calendar_and_rolling_windows_are_always_active() -> None:
    for window in (Period.monthly, Period.quarterly, Period.yearly, RollingWindow(rolling_days=7)):
        assert is_active(window, utc(1999, 1, 1))
    assert describe(Period.quarterly) == "quarterly"


@settings(max_examples=200, deadline=None)
@given(
    now=st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(9998, 1, 1), timezones=st.just(UTC)),
    period=st.sampled_from(list(Period)),
)
def test_calendar_window_contains_now_and_starts_on_a_period_boundary(now: datetime, period: Period) -> None:
    start, end = window_bounds(period, now)
    months = {Period.monthly: 1, Period.quarterly: 3, Period.yearly: 12}[period]
    assert start <= now < end
    assert (start.day, start.hour, start.minute, start.second, start.microsecond) == (1, 0, 0, 0, 0)
    assert (start.month - 1) % months == 0
    assert (end.year * 12 + end.month) - (start.year * 12 + start.month) == months
    assert end.day == 1
