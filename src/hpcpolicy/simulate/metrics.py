"""Standard scheduling metrics over a :class:`Schedule`: pure functions, no state, no clock.

Definitions follow the backfilling literature (Feitelson et al., "Metrics and benchmarking for
parallel job scheduling") so results compare with published numbers:

* wait = start − submit;
* bounded slowdown = ``max(1, (wait + run) / max(run, bound))`` with the usual 10 s bound, so a
  1-second job that waited a minute does not dominate the mean;
* makespan = last end − first submit;
* utilization = Σ procs × run / (capacity × makespan).

Skipped jobs are not in any metric (they never ran). An empty schedule gives zeros.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import fmean, median

from .workload import Placement, Schedule

BOUND = 10.0


@dataclass(frozen=True, slots=True)
class Metrics:
    """The summary a replay reports per model."""

    jobs: int
    mean_wait: float
    median_wait: float
    mean_bounded_slowdown: float
    p95_bounded_slowdown: float
    utilization: float
    makespan: float


def waits(schedule: Schedule) -> list[float]:
    """Wait time of every placed job, in placement order."""
    return [p.start - p.submit for p in schedule.placements]


def bounded_slowdown(placement: Placement, bound: float = BOUND) -> float:
    """``max(1, (wait + run) / max(run, bound))`` for one job."""
    run = placement.end - placement.start
    return max(1.0, (placement.end - placement.submit) / max(run, bound))


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0–100) with linear interpolation between ranks (numpy's default)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100.0
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def makespan(schedule: Schedule) -> float:
    """Last end − first submit over placed jobs."""
    if not schedule.placements:
        return 0.0
    return max(p.end for p in schedule.placements) - min(p.submit for p in schedule.placements)


def utilization(schedule: Schedule) -> float:
    """Fraction of processor-seconds used between the first submit and the last end."""
    span = makespan(schedule)
    if span <= 0:
        return 0.0
    used = math.fsum(p.procs * (p.end - p.start) for p in schedule.placements)
    return used / (schedule.capacity * span)


def summarize(schedule: Schedule, bound: float = BOUND) -> Metrics:
    """All metrics of one schedule."""
    if not schedule.placements:
        return Metrics(0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    wait = waits(schedule)
    slowdowns = [bounded_slowdown(p, bound) for p in schedule.placements]
    return Metrics(
        jobs=len(schedule.placements),
        mean_wait=fmean(wait),
        median_wait=median(wait),
        mean_bounded_slowdown=fmean(slowdowns),
        p95_bounded_slowdown=percentile(slowdowns, 95.0),
        utilization=utilization(schedule),
        makespan=makespan(schedule),
    )
