"""Time series and distributions for the report, computed after the replay from the schedule alone.

Nothing here runs inside the replay loop: queue length and busy processors are step functions that
change only at submits, starts and ends of placed jobs, so one sorted sweep over those events gives
their time-weighted mean in each of ``buckets`` equal slices of [first submit, last end]. Denied and
skipped jobs never queued, so they are not in the queue length.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..workload import Schedule

BUCKETS = 300

#: Wait-histogram bins: (label, upper bound in seconds, exclusive); the first holds waits of exactly 0.
WAIT_BINS: tuple[tuple[str, float], ...] = (
    ("0 s", 0.0),
    ("< 1 min", 60.0),
    ("1–10 min", 600.0),
    ("10 min–1 h", 3600.0),
    ("1–4 h", 4 * 3600.0),
    ("4–12 h", 12 * 3600.0),
    ("12 h–1 d", 86400.0),
    ("1–3 d", 3 * 86400.0),
    ("3–7 d", 7 * 86400.0),
    ("≥ 7 d", float("inf")),
)


@dataclass(frozen=True, slots=True)
class Series:
    """Bucket start times (trace seconds) with the mean queue length and utilization in each bucket."""

    start: float
    width: float
    queue_length: list[float]
    utilization: list[float]

    @property
    def times(self) -> list[float]:
        return [self.start + i * self.width for i in range(len(self.queue_length))]


def time_series(schedule: Schedule, buckets: int = BUCKETS) -> Series:
    placements = schedule.placements
    if not placements:
        return Series(0.0, 0.0, [], [])
    first = min(p.submit for p in placements)
    last = max(p.end for p in placements)
    width = (last - first) / buckets if last > first else 1.0
    queue = [(p.submit, 1.0) for p in placements] + [(p.start, -1.0) for p in placements]
    busy = [(p.start, float(p.procs)) for p in placements] + [(p.end, -float(p.procs)) for p in placements]
    capacity = float(schedule.capacity)
    return Series(
        first,
        width,
        _means(queue, first, width, buckets),
        [value / capacity for value in _means(busy, first, width, buckets)],
    )


def _means(events: list[tuple[float, float]], first: float, width: float, buckets: int) -> list[float]:
    """Time-weighted mean per bucket of the step function that starts at 0 and jumps by each delta."""
    events.sort()
    sums = [0.0] * buckets
    value, last = 0.0, first
    for time, delta in events:
        if time > last:
            if value:
                _spread(sums, last, time, value, first, width)
            last = time
        value += delta
    return [total / width for total in sums]


def _spread(sums: list[float], low: float, high: float, value: float, first: float, width: float) -> None:
    """Add ``value × overlap`` of [low, high) to every bucket it overlaps."""
    count = len(sums)
    index = min(int((low - first) / width), count - 1)
    while low < high and index < count:
        edge = first + (index + 1) * width if index < count - 1 else high
        step = min(high, edge) - low
        sums[index] += value * step
        low = min(high, edge)
        index += 1


def wait_histogram(schedule: Schedule) -> list[tuple[str, int]]:
    """Placed jobs per wait bin (see :data:`WAIT_BINS`)."""
    counts = [0] * len(WAIT_BINS)
    bounds = [bound for _, bound in WAIT_BINS]
    for p in schedule.placements:
        wait = p.start - p.submit
        if wait <= 0:
            counts[0] += 1
            continue
        index = 1
        while wait >= bounds[index]:
            index += 1
        counts[index] += 1
    return [(label, count) for (label, _), count in zip(WAIT_BINS, counts, strict=True)]
