"""When a partition takes jobs: opening hours in a named time zone, and who may ignore them (v2).

Times are written in quotes (``from: "08:00"``): YAML reads an unquoted ``20:00`` as the number 1200.

Hours are read on the wall clock of ``timezone``, as the notice on a door would be: "08:00 to 20:00"
stays 08:00 to 20:00 local time through a DST change. A window whose ``to`` is not after its ``from``
runs past midnight into the next day ("19:00" to "07:00" on fri is open from Friday 19:00 to Saturday
07:00); ``to: "24:00"`` closes at the end of the day.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BeforeValidator, Field, model_validator
from pydantic_core import PydanticCustomError

from hpcpolicy.policy.schema.access import Access
from hpcpolicy.policy.schema.common import Model

Day = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
DAYS: tuple[Day, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
"""Day names in ``datetime.weekday()`` order."""

_CLOCK = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])|24:00")


def minutes(clock: str) -> int:
    """``"07:30"`` → 450: minutes since midnight (``"24:00"`` → 1440)."""
    hours, mins = clock.split(":")
    return int(hours) * 60 + int(mins)


def _unquoted(value: object) -> object:
    """YAML 1.1 reads an unquoted ``20:00`` as the number 1200 (base 60): say to quote it, and how."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 1440:
        hours, mins = divmod(value, 60)
        raise PydanticCustomError(
            "clock_unquoted",
            'write the time in quotes, as "{clock}" (unquoted, YAML reads it as the number {value})',
            {"clock": f"{hours:02d}:{mins:02d}", "value": value},
        )
    return value


def _clock(value: str) -> str:
    if not _CLOCK.fullmatch(value):
        raise PydanticCustomError("clock", 'must be a time of day written "HH:MM" from "00:00" to "24:00", as "08:00"')
    return value


def _zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise PydanticCustomError(
            "timezone", "unknown time zone: write an IANA name such as Europe/Berlin, America/New_York or UTC"
        ) from None
    return value


Clock = Annotated[str, BeforeValidator(_unquoted), AfterValidator(_clock)]
TimeZoneName = Annotated[str, Field(min_length=1, max_length=64), AfterValidator(_zone)]


class Opening(Model):
    """Open from ``from`` to ``to`` on each of ``days`` (every day when left out)."""

    days: list[Day] = Field(default_factory=lambda: list(DAYS), min_length=1)
    from_: Clock = Field(alias="from")
    to: Clock

    @model_validator(mode="after")
    def _not_empty(self) -> Opening:
        if self.from_ == "24:00":
            raise PydanticCustomError("window", 'from "24:00" is the end of a day: write from: "00:00" of the next')
        if self.from_ == self.to:
            raise PydanticCustomError(
                "window",
                "from and to are the same time, so the window is empty; "
                'for a whole day write from: "00:00", to: "24:00"',
            )
        return self


class Schedule(Model):
    """When the partition takes jobs (``open``), read in ``timezone``; ``exempt`` may submit at any time."""

    timezone: TimeZoneName = "UTC"
    open: list[Opening] = Field(min_length=1)
    exempt: Access | None = None
