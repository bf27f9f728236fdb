"""A partition's opening hours, compiled for the one question a decision asks: open at ``now``?

Each weekday holds its open intervals in minutes since local midnight; a window that runs past
midnight is split at it, its tail landing on the next day. ``now`` is read on the wall clock of the
schedule's time zone (so "08:00" is 08:00 local time in summer and in winter), at minute resolution.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from hpcpolicy.policy.schema.schedule import DAYS, Schedule, minutes

DAY = 1440
Intervals = tuple[tuple[int, int], ...]


@dataclass(frozen=True, slots=True)
class OpeningHours:
    zone: ZoneInfo
    week: tuple[Intervals, ...]  # by weekday (Monday 0): [start, end) minutes, sorted
    label: str  # "mon-fri 08:00-20:00 (Europe/Berlin)"

    def open_at(self, now: datetime) -> bool:
        local = now.astimezone(self.zone)
        minute = local.hour * 60 + local.minute
        return any(start <= minute < end for start, end in self.week[local.weekday()])

    def local(self, now: datetime) -> str:
        """``now`` as the schedule reads it: ``"sat 10:15"``."""
        local = now.astimezone(self.zone)
        return f"{DAYS[local.weekday()]} {local:%H:%M}"

    def next_opening(self, now: datetime) -> str | None:
        """When the partition next opens after ``now`` (``"mon 08:00"``), on the local wall clock."""
        local = now.astimezone(self.zone)
        day, minute = local.weekday(), local.hour * 60 + local.minute
        for ahead in range(8):
            starts = [s for s, _ in self.week[(day + ahead) % 7] if ahead or s > minute]
            if starts:
                at = min(starts)
                return f"{DAYS[(day + ahead) % 7]} {at // 60:02d}:{at % 60:02d}"
        return None


def opening_hours(schedule: Schedule) -> OpeningHours:
    week: list[list[tuple[int, int]]] = [[] for _ in DAYS]
    for window in schedule.open:
        start, end = minutes(window.from_), minutes(window.to)
        for name in window.days:
            day = DAYS.index(name)
            if start < end:
                week[day].append((start, end))
            else:  # runs past midnight: the rest of this day, then the next morning
                week[day].append((start, DAY))
                if end:
                    week[(day + 1) % 7].append((0, end))
    label = "; ".join(f"{_days(w.days)} {w.from_}-{w.to}" for w in schedule.open)
    return OpeningHours(
        ZoneInfo(schedule.timezone), tuple(tuple(sorted(d)) for d in week), f"{label} ({schedule.timezone})"
    )


def _days(days: Sequence[str]) -> str:
    """``[mon, tue, wed, thu, fri]`` → ``mon-fri``; all seven → ``daily``; runs of three or more as ranges."""
    index = sorted({DAYS.index(d) for d in days})
    if len(index) == 7:
        return "daily"
    runs: list[list[int]] = []
    for i in index:
        if runs and runs[-1][-1] == i - 1:
            runs[-1].append(i)
        else:
            runs.append([i])
    parts = []
    for run in runs:
        if len(run) >= 3:
            parts.append(f"{DAYS[run[0]]}-{DAYS[run[-1]]}")
        else:
            parts.extend(DAYS[i] for i in run)
    return ",".join(parts)
