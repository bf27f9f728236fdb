"""Calendar windows as centres count them (v2): fiscal start months, named time zones, the previous window.

Every bound is a UTC instant; a window starts at local midnight of its first day in its zone.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hpcpolicy.engine import window_bounds
from hpcpolicy.engine.quotaref import QuotaRef
from hpcpolicy.engine.windows import INSTANT, describe, previous_bounds, zoned_period
from hpcpolicy.policy.schema import CalendarWindow, Every, FixedWindow, Period, Quota, RollingWindow


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def cal(every: str, start_month: int | None = None, timezone: str | None = None) -> CalendarWindow:
    return CalendarWindow.model_validate({"every": every, "start_month": start_month, "timezone": timezone})


@pytest.mark.parametrize(
    ("window", "now", "start", "end"),
    [
        # fiscal year from October: 30 Sep is the last day of the year that began the October before
        (cal("year", 10), utc(2026, 9, 30, 23, 59), utc(2025, 10, 1), utc(2026, 10, 1)),
        (cal("year", 10), utc(2026, 10, 1), utc(2026, 10, 1), utc(2027, 10, 1)),
        (cal("year", 7), utc(2027, 1, 15), utc(2026, 7, 1), utc(2027, 7, 1)),
        # quarters from February wrap the year: Nov..Jan is one quarter
        (cal("quarter", 2), utc(2026, 12, 15), utc(2026, 11, 1), utc(2027, 2, 1)),
        (cal("quarter", 2), utc(2026, 1, 31, 23), utc(2025, 11, 1), utc(2026, 2, 1)),
        (cal("quarter", 2), utc(2026, 2, 1), utc(2026, 2, 1), utc(2026, 5, 1)),
        # fiscal quarters from July fall on calendar quarter boundaries (only their numbering differs)
        (cal("quarter", 7), utc(2026, 8, 20), utc(2026, 7, 1), utc(2026, 10, 1)),
        (cal("quarter", 12), utc(2026, 12, 1), utc(2026, 12, 1), utc(2027, 3, 1)),
        (cal("month"), utc(2024, 2, 29, 12), utc(2024, 2, 1), utc(2024, 3, 1)),  # leap day
        (cal("year", 3), utc(2024, 2, 29, 12), utc(2023, 3, 1), utc(2024, 3, 1)),  # a leap year's last day
    ],
)
def test_fiscal_windows_in_utc(window: CalendarWindow, now: datetime, start: datetime, end: datetime) -> None:
    assert window_bounds(window, now) == (start, end)


ST_JOHNS = cal("month", None, "America/St_Johns")


@pytest.mark.parametrize(
    ("window", "now", "start", "end"),
    [
        # New York: October in EDT (-4); November starts in EDT (midnight, before the 2 a.m. change) and
        # ends in EST (-5): 30 days and an hour long
        (cal("month", None, "America/New_York"), utc(2026, 11, 1, 3, 59), utc(2026, 10, 1, 4), utc(2026, 11, 1, 4)),
        (cal("month", None, "America/New_York"), utc(2026, 11, 1, 4), utc(2026, 11, 1, 4), utc(2026, 12, 1, 5)),
        # Berlin: March starts in CET (+1) and ends in CEST (+2)
        (cal("month", None, "Europe/Berlin"), utc(2026, 3, 29, 12), utc(2026, 2, 28, 23), utc(2026, 3, 31, 22)),
        (cal("quarter", 7, "America/New_York"), utc(2026, 7, 1, 3), utc(2026, 4, 1, 4), utc(2026, 7, 1, 4)),
        (cal("year", 10, "America/New_York"), utc(2026, 10, 1, 3, 59), utc(2025, 10, 1, 4), utc(2026, 10, 1, 4)),
        # east of UTC a local month starts the UTC day before
        (cal("month", None, "Asia/Tokyo"), utc(2024, 2, 29, 15), utc(2024, 2, 29, 15), utc(2024, 3, 31, 15)),
        (cal("month", None, "Asia/Tokyo"), utc(2024, 2, 29, 14, 59), utc(2024, 1, 31, 15), utc(2024, 2, 29, 15)),
        (cal("year", None, "Pacific/Kiritimati"), utc(2025, 12, 31, 10), utc(2025, 12, 31, 10), utc(2026, 12, 31, 10)),
        # Havana skipped midnight on 1 Apr 2012 (00:00 CST → 01:00 CDT): April starts at the change
        (cal("month", None, "America/Havana"), utc(2012, 4, 1, 4, 59), utc(2012, 3, 1, 5), utc(2012, 4, 1, 5)),
        (cal("month", None, "America/Havana"), utc(2012, 4, 1, 5), utc(2012, 4, 1, 5), utc(2012, 5, 1, 4)),
        # …and lived midnight twice on 1 Nov 2020 (01:00 CDT → 00:00 CST): November starts at the first
        (cal("month", None, "America/Havana"), utc(2020, 11, 1, 3, 59), utc(2020, 10, 1, 4), utc(2020, 11, 1, 4)),
        (cal("month", None, "America/Havana"), utc(2020, 11, 1, 5, 30), utc(2020, 11, 1, 4), utc(2020, 12, 1, 5)),
        # St John's went back from 00:01 on 1 Nov 2009 to 23:01 on 31 Oct: that second 31 Oct hour is
        # after November's first midnight, so it counts in November although its local date is October
        (ST_JOHNS, utc(2009, 11, 1, 3), utc(2009, 11, 1, 2, 30), utc(2009, 12, 1, 3, 30)),
        (ST_JOHNS, utc(2009, 11, 1, 2, 29), utc(2009, 10, 1, 2, 30), utc(2009, 11, 1, 2, 30)),
    ],
)
def test_windows_in_a_time_zone(window: CalendarWindow, now: datetime, start: datetime, end: datetime) -> None:
    assert window_bounds(window, now) == (start, end)
    ref = QuotaRef("q", "project:p", Quota(window=window, cpu_hours=1))
    assert ref.bounds(now) == (start, end)
    assert start.tzinfo is UTC and end.tzinfo is UTC


def old_calendar_period(months: int, year: int, month: int) -> tuple[datetime, datetime]:
    """The v1 code, kept as the reference a UTC calendar window must still agree with."""
    first_month = (month - 1) // months * months + 1
    end_month0 = first_month - 1 + months
    start = datetime(year, first_month, 1, tzinfo=UTC)
    return start, datetime(year + end_month0 // 12, end_month0 % 12 + 1, 1, tzinfo=UTC)


@settings(max_examples=300, deadline=None)
@given(
    now=st.datetimes(datetime(1971, 1, 1), datetime(9998, 1, 1), timezones=st.just(UTC)),
    every=st.sampled_from(Every),
)
def test_utc_calendar_windows_are_the_v1_windows(now: datetime, every: Every) -> None:
    months = {Every.month: 1, Every.quarter: 3, Every.year: 12}[every]
    period = {Every.month: Period.monthly, Every.quarter: Period.quarterly, Every.year: Period.yearly}[every]
    want = old_calendar_period(months, now.year, now.month)
    assert window_bounds(period, now) == want
    first = None if every is Every.month else 1
    for window in (cal(every.value), cal(every.value, None, "UTC"), cal(every.value, first)):
        assert window_bounds(window, now) == want
        assert QuotaRef("q", "user:u", Quota(window=window)).bounds(now) == want


ZONES = ["America/New_York", "Europe/Berlin", "Australia/Lord_Howe", "America/Havana", "America/St_Johns", "Asia/Tokyo"]


@settings(max_examples=300, deadline=None)
@given(
    now=st.datetimes(datetime(1990, 1, 1), datetime(2100, 1, 1), timezones=st.just(UTC)),
    every=st.sampled_from(["quarter", "year"]),
    start_month=st.integers(1, 12),
    zone=st.sampled_from(ZONES),
)
def test_zoned_windows_tile_time_from_local_midnights(now: datetime, every: str, start_month: int, zone: str) -> None:
    window = cal(every, start_month, zone)
    start, end = window_bounds(window, now)
    assert start <= now < end
    assert window_bounds(window, end) == (end, window_bounds(window, end)[1])  # the next one starts at the end
    assert previous_bounds(window, now) == window_bounds(window, start - INSTANT)
    assert window_bounds(window, start - INSTANT)[1] == start
    local = start.astimezone(ZoneInfo(zone))
    months = 3 if every == "quarter" else 12
    assert (local.month - start_month) % months == 0 and local.day == 1
    assert (local.hour, local.minute) == (0, 0) or (start - INSTANT).astimezone(ZoneInfo(zone)).day != 1  # or skipped
    assert QuotaRef("q", "team:t", Quota(window=window)).bounds(now) == (start, end)


@pytest.mark.parametrize(
    ("window", "now", "previous"),
    [
        (Period.monthly, utc(2026, 1, 15), (utc(2025, 12, 1), utc(2026, 1, 1))),
        (Period.quarterly, utc(2026, 1, 1), (utc(2025, 10, 1), utc(2026, 1, 1))),
        (Period.yearly, utc(2024, 12, 31), (utc(2023, 1, 1), utc(2024, 1, 1))),
        (cal("year", 10), utc(2026, 10, 1), (utc(2025, 10, 1), utc(2026, 10, 1))),
        (cal("quarter", 2), utc(2026, 1, 5), (utc(2025, 8, 1), utc(2025, 11, 1))),
        (cal("month", None, "Europe/Berlin"), utc(2026, 4, 1), (utc(2026, 2, 28, 23), utc(2026, 3, 31, 22))),
        (RollingWindow(rolling_days=30), utc(2026, 4, 1), None),
        (FixedWindow(start=utc(2026, 1, 1), end=utc(2027, 1, 1)), utc(2026, 4, 1), None),
    ],
)
def test_previous_window(window: object, now: datetime, previous: tuple[datetime, datetime] | None) -> None:
    ref = QuotaRef("q", "org:o", Quota.model_validate({"window": window, "cpu_hours": 1}))
    assert previous_bounds(ref.quota.window, now) == previous
    assert ref.previous_bounds(now) == previous


@pytest.mark.parametrize(
    ("window", "label"),
    [
        (cal("month"), "monthly"),
        (cal("quarter", 1), "quarterly"),
        (cal("quarter", 7, "America/New_York"), "fiscal quarter from Jul (America/New_York)"),
        (cal("year", 10), "fiscal year from Oct"),
        (cal("month", None, "Europe/Berlin"), "monthly (Europe/Berlin)"),
    ],
)
def test_labels_say_start_month_and_zone(window: CalendarWindow, label: str) -> None:
    assert describe(window) == label
    assert QuotaRef("q", "org:o", Quota(window=window)).window_label == label


def test_a_cached_month_serves_both_windows_that_overlap_it() -> None:
    """The memo is keyed by UTC month; in New York, the first hours of a UTC month are the local month before."""
    ref = QuotaRef("q", "org:o", Quota(window=cal("month", None, "America/New_York")))
    assert ref.bounds(utc(2026, 3, 1, 2)) == (utc(2026, 2, 1, 5), utc(2026, 3, 1, 5))
    assert ref.bounds(utc(2026, 3, 1, 6)) == (utc(2026, 3, 1, 5), utc(2026, 4, 1, 4))
    assert ref.bounds(utc(2026, 3, 31, 23)) == (utc(2026, 3, 1, 5), utc(2026, 4, 1, 4))
    assert ref.bounds(utc(2026, 3, 1, 2) - timedelta(days=1)) == (utc(2026, 2, 1, 5), utc(2026, 3, 1, 5))


@pytest.mark.parametrize(
    ("zone", "instant", "start"),
    [
        ("America/St_Johns", utc(2009, 11, 1, 3), utc(2009, 11, 1, 2, 30)),  # local date 31 Oct, after the edge
        ("America/St_Johns", utc(2009, 11, 1, 2, 29), utc(2009, 10, 1, 2, 30)),
        ("America/Havana", utc(2012, 4, 1, 5), utc(2012, 4, 1, 5)),  # the skipped midnight
        ("Asia/Tokyo", utc(2024, 2, 29, 15), utc(2024, 2, 29, 15)),
    ],
)
def test_the_period_of_an_instant_is_found_from_its_edges_not_its_local_date(
    zone: str, instant: datetime, start: datetime
) -> None:
    _, found, end = zoned_period(1, 1, ZoneInfo(zone), instant)
    assert found == start and found <= instant < end
