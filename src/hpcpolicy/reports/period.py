"""The period a report covers: a calendar month in UTC (``2026-10``), or whole days (``--from``/``--to``).

A period is the half-open interval ``[start, end)`` in UTC: a charge dated exactly at the month's first
instant counts, one dated at the next month's first instant belongs to the next month. Periods lie
within the years the ledger accepts dates in (:data:`hpcpolicy.engine.limits.EARLIEST` to ``LATEST``),
so every bound is a date the ledger and each database can compare with.

Parsing is strict: ``2026-1``, ``2026-13``, ``10000-01``, whitespace, other digits than ASCII ones and
over-long text are refused with a :class:`ValueError` that says what was expected.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from hpcpolicy.engine.limits import EARLIEST, LATEST

_MONTH = re.compile(r"[0-9]{4}-[0-9]{2}")
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
FIRST_MONTH = f"{EARLIEST:%Y-%m}"
LAST_MONTH = f"{LATEST - timedelta(days=1):%Y-%m}"


@dataclass(frozen=True, slots=True)
class Period:
    """``[start, end)`` in UTC, with the label a report names it by (``2026-10``, ``2026-10-01..2026-10-15``)."""

    label: str
    start: datetime
    end: datetime

    def __contains__(self, moment: datetime) -> bool:
        return self.start <= moment < self.end


def month(text: str) -> Period:
    """The calendar month ``YYYY-MM`` in UTC; ValueError if ``text`` is not one in the ledger's range."""
    if len(text) != 7 or not _MONTH.fullmatch(text):
        raise ValueError(f"a month is YYYY-MM (e.g. 2026-10), got {_shown(text)}")
    year, number = int(text[:4]), int(text[5:])
    if not 1 <= number <= 12:
        raise ValueError(f"month {number:02d} does not exist (01 to 12), got {text}")
    start = datetime(year, number, 1, tzinfo=UTC)
    if not EARLIEST <= start < LATEST:
        raise ValueError(f"the month must lie between {FIRST_MONTH} and {LAST_MONTH}, got {text}")
    end = datetime(year + number // 12, number % 12 + 1, 1, tzinfo=UTC)
    return Period(text, start, end)


def days(first: str, last: str) -> Period:
    """The days ``first`` to ``last`` (``YYYY-MM-DD``, both included) in UTC; ValueError naming the bad one."""
    start, stop = _named(first, "from"), _named(last, "to")
    if stop < start:
        raise ValueError(f"to ({last}) is before from ({first})")
    end = datetime.combine(stop + timedelta(days=1), datetime.min.time(), UTC)
    return Period(f"{first}..{last}", datetime.combine(start, datetime.min.time(), UTC), end)


def day(text: str) -> date:
    """The date ``YYYY-MM-DD``; ValueError if ``text`` is not one in the ledger's range."""
    if len(text) != 10 or not _DAY.fullmatch(text):
        raise ValueError(f"a date is YYYY-MM-DD (e.g. 2026-10-01), got {_shown(text)}")
    try:
        found = date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text} is not a date of the calendar") from None
    if not EARLIEST.date() <= found < LATEST.date():
        raise ValueError(f"the date must lie between {EARLIEST:%Y-%m-%d} and {LATEST - timedelta(days=1):%Y-%m-%d}, "
                         f"got {text}")  # fmt: skip
    return found


def _named(text: str, name: str) -> date:
    try:
        return day(text)
    except ValueError as exc:
        raise ValueError(f"{name}: {exc}") from None


def _shown(text: str) -> str:
    """``text`` as an error message may quote it: escaped (no control characters) and cut to 40 characters."""
    return repr(text[:40]) + (f"... ({len(text)} characters)" if len(text) > 40 else "")
