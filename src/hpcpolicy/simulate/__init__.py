"""Trace replay on a virtual clock: scheduler models (FIFO, EASY backfilling, EASY over fair share), policy
replay with queued admission, reports.

The clock is event-driven — it jumps from one submit or job end to the next — so a year of trace
replays in well under a second and no result depends on the wall clock.

This package re-exports the scheduler layer only, which needs nothing but the standard library. The
policy replay lives in submodules that pull in the engine, the ledger and the service layer:
:mod:`.source` (read a trace for replay), :mod:`.identity` (trace ids → policy users and projects),
:mod:`.replay` (the event loop), :mod:`.governor` (decisions, liens, charges), :mod:`.fairshare`
(usage and priorities), :mod:`.held` (the admission queue), :mod:`.unpoliced` (fair share without a
policy), :mod:`.run` (one variant end to end) and :mod:`.report` (JSON, HTML).
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
