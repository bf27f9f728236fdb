"""A report's period: strict month and day parsing, half-open bounds in UTC."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hpcpolicy.reports import days, month


def test_a_month_is_its_first_instant_to_the_next_months() -> None:
    october = month("2026-10")
    assert (october.label, october.start, october.end) == (
        "2026-10",
        datetime(2026, 10, 1, tzinfo=UTC),
        datetime(2026, 11, 1, tzinfo=UTC),
    )
    assert month("2026-12").end == datetime(2027, 1, 1, tzinfo=UTC)
    assert october.start in october and october.end not in october


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("2026-13", "does not exist"),
        ("2026-00", "does not exist"),
        ("10000-01", "YYYY-MM"),
        ("2026-1", "YYYY-MM"),
        ("2026-10 ", "YYYY-MM"),
        (" 2026-10", "YYYY-MM"),
        ("2026/10", "YYYY-MM"),
        ("٢٠٢٦-١٠", "YYYY-MM"),  # digits, but not ASCII ones
        ("2026-1\x00", "YYYY-MM"),
        ("\x00" * 7, "YYYY-MM"),
        ("x" * 10_000, "10000 characters"),
        ("1999-12", "between 2000-01 and 2199-12"),
        ("2200-01", "between 2000-01 and 2199-12"),
        ("", "YYYY-MM"),
    ],
)
def test_anything_else_is_refused_saying_what_a_month_is(text: str, says: str) -> None:
    with pytest.raises(ValueError, match=says) as caught:
        month(text)
    assert "\x00" not in str(caught.value) and len(str(caught.value)) < 200


def test_days_include_the_last_one() -> None:
    span = days("2026-10-01", "2026-10-15")
    assert (span.label, span.start, span.end) == (
        "2026-10-01..2026-10-15",
        datetime(2026, 10, 1, tzinfo=UTC),
        datetime(2026, 10, 16, tzinfo=UTC),
    )
    assert days("2026-10-01", "2026-10-01").end == datetime(2026, 10, 2, tzinfo=UTC)


@pytest.mark.parametrize(
    ("first", "last", "says"),
    [
        ("2026-10-15", "2026-10-01", "before from"),
        ("2026-02-30", "2026-03-01", "from: 2026-02-30 is not a date"),
        ("2026-10-01", "2026-10-1", "to: a date is YYYY-MM-DD"),
        ("1999-12-31", "2026-10-01", "from: the date must lie between"),
        ("2026-10-01", "2200-01-01", "to: the date must lie between"),
        ("2026-10-01", "2026-10-01\x00", "to: a date is"),
    ],
)
def test_bad_days_name_the_option(first: str, last: str, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        days(first, last)


@settings(deadline=None)
@given(st.integers(0, 12_000), st.integers(-1, 14))
def test_month_takes_exactly_the_months_in_range(year: int, number: int) -> None:
    text = f"{year:04d}-{number:02d}"
    if len(text) == 7 and 2000 <= year < 2200 and 1 <= number <= 12:
        assert month(text).start == datetime(year, number, 1, tzinfo=UTC)
    else:
        with pytest.raises(ValueError):
            month(text)
