"""Quota windows: calendar periods, rolling windows and fixed allocations.

A calendar window is a v1 string (``monthly``, ``quarterly``, ``yearly``: periods starting in January) or,
since v2, ``{every: month|quarter|year, start_month: 1-12, timezone: IANA name}``: fiscal years and
quarters, counted in the centre's own time zone. A calendar window without a zone counts in
``defaults.timezone``, else in UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, Discriminator, Field, Tag, model_validator

from hpcpolicy.policy.schema.common import V2, Model, PosInt


def _known_zone(name: str) -> str:
    """An IANA zone name the tz database holds; refused here so the engine never meets an unknown one."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):  # ValueError: not even a key (``../etc``, absolute paths)
        raise ValueError(f"unknown time zone {name!r}: write an IANA name such as Europe/Berlin or UTC") from None
    return name


#: An IANA time zone name (``Europe/Berlin``, ``America/New_York``, ``UTC``).
TimeZone = Annotated[str, Field(min_length=1, max_length=64), AfterValidator(_known_zone)]


class Period(StrEnum):
    """Calendar periods starting in January, in UTC (or ``defaults.timezone``)."""

    monthly = "monthly"
    quarterly = "quarterly"
    yearly = "yearly"


class Every(StrEnum):
    month = "month"
    quarter = "quarter"
    year = "year"


class CalendarWindow(Model):
    """Since v2: a calendar period of ``every``, starting in ``start_month``, counted in ``timezone``.

    ``{every: quarter, start_month: 7}`` are fiscal quarters from July, ``{every: year, start_month: 10}``
    a fiscal year from October. A window starts at local midnight of its first day (in ``timezone``, else
    ``defaults.timezone``, else UTC). The whole object is v2: ``every`` (always present) carries the mark.
    """

    every: Every = Field(json_schema_extra=V2)
    start_month: Annotated[int, Field(ge=1, le=12)] | None = None
    timezone: TimeZone | None = None

    @model_validator(mode="after")
    def _start_month_needs_a_longer_period(self) -> CalendarWindow:
        if self.start_month is not None and self.every is Every.month:
            raise ValueError("start_month applies to every: quarter or year (a month always starts on its 1st)")
        return self


class RollingWindow(Model):
    """The last ``rolling_days`` days up to the moment of the decision."""

    rolling_days: PosInt


class FixedWindow(Model):
    """A one-off allocation valid from ``start`` (inclusive) to ``end`` (exclusive)."""

    start: datetime
    end: datetime

    @model_validator(mode="after")
    def _ordered(self) -> FixedWindow:
        # naive dates are UTC (as the engine reads them); comparing naive with aware would raise TypeError
        start, end = (d.replace(tzinfo=UTC) if d.tzinfo is None else d for d in (self.start, self.end))
        if end <= start:
            raise ValueError("end must be after start")
        return self


def _window_kind(value: object) -> str | None:
    if isinstance(value, Period | str):
        return "period"
    for kind, model in (("calendar", CalendarWindow), ("rolling", RollingWindow), ("fixed", FixedWindow)):
        if isinstance(value, model):
            return kind
    if isinstance(value, dict):
        if "every" in value:
            return "calendar"
        if "rolling_days" in value:
            return "rolling"
        if "start" in value or "end" in value:
            return "fixed"
    return None


#: Labels Pydantic puts in error locations for the window union; not keys of the file.
WINDOW_TAGS = frozenset({"period", "calendar", "rolling", "fixed"})

#: monthly | quarterly | yearly | {every: …} | {rolling_days: N} | {start: DATE, end: DATE}
Window = Annotated[
    Annotated[Period, Tag("period")]
    | Annotated[CalendarWindow, Tag("calendar")]
    | Annotated[RollingWindow, Tag("rolling")]
    | Annotated[FixedWindow, Tag("fixed")],
    Discriminator(
        _window_kind,
        custom_error_type="window",
        custom_error_message=(
            "must be monthly, quarterly, yearly, {every: month|quarter|year, start_month: M, timezone: ZONE},"
            " {rolling_days: N} or {start: DATE, end: DATE}"
        ),
    ),
]
