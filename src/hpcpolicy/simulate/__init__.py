"""Trace replay on a virtual clock: scheduler models (FIFO, EASY backfilling) and their metrics.

The clock is event-driven — it jumps from one submit or job end to the next — so a year of trace
replays in well under a second and no result depends on the wall clock.
"""

from .metrics import Metrics, bounded_slowdown, makespan, percentile, summarize, utilization, waits
from .scheduler import schedule_easy, schedule_fifo
from .workload import Placement, Schedule, SimJob, Skipped, to_sim_jobs

__all__ = [
    "Metrics",
    "Placement",
    "Schedule",
    "SimJob",
    "Skipped",
    "bounded_slowdown",
    "makespan",
    "percentile",
    "schedule_easy",
    "schedule_fifo",
    "summarize",
    "to_sim_jobs",
    "utilization",
    "waits",
]
