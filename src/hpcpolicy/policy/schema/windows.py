"""Quota windows: calendar periods, rolling windows and fixed allocations."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated

from pydantic import Discriminator, Tag, model_validator

from hpcpolicy.policy.schema.common import Model, PosInt


class Period(StrEnum):
    """Calendar periods; a window of this kind starts at the period's first instant, in UTC."""

    monthly = "monthly"
    quarterly = "quarterly"
    yearly = "yearly"


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
    if isinstance(value, RollingWindow | FixedWindow):
        return "rolling" if isinstance(value, RollingWindow) else "fixed"
    if isinstance(value, dict):
        if "rolling_days" in value:
            return "rolling"
        if "start" in value or "end" in value:
            return "fixed"
    return None


#: Labels Pydantic puts in error locations for the window union; not keys of the file.
WINDOW_TAGS = frozenset({"period", "rolling", "fixed"})

#: monthly | quarterly | yearly | {rolling_days: N} | {start: DATE, end: DATE}
Window = Annotated[
    Annotated[Period, Tag("period")] | Annotated[RollingWindow, Tag("rolling")] | Annotated[FixedWindow, Tag("fixed")],
    Discriminator(
        _window_kind,
        custom_error_type="window",
        custom_error_message="must be monthly, quarterly, yearly, {rolling_days: N} or {start: DATE, end: DATE}",
    ),
]
