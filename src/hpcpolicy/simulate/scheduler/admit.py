"""What both models do with each arriving job before queueing it: check order, size, and effective runtime.

A job larger than the machine would block a FIFO queue forever, so it is reported in
``Schedule.skipped`` instead. Unsorted input is an error rather than silently sorted, because
sorting needs the whole trace in memory and the caller (which knows the trace) should decide.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from ..workload import Schedule, SimJob, Skipped

Entry = tuple[int, float, int, float, float, SimJob]
"""A queued job: (seq, submit, procs, requested, run, job) — seq is the arrival rank, run the simulated duration."""


def admitted(jobs: Iterable[SimJob], schedule: Schedule, kill_at_limit: bool) -> Iterator[Entry]:
    """Yield queue entries in submit order; skip impossible jobs into ``schedule.skipped``.

    The requested time falls back to the runtime when unknown (≤ 0 counts as unknown). With
    ``kill_at_limit`` a job runs ``min(runtime, requested)``, as a real scheduler kills it at its
    limit; that is what makes EASY's reservation a guarantee.
    """
    capacity = schedule.capacity
    if capacity < 1:
        raise ValueError(f"capacity must be at least 1 processor, got {capacity}")
    skipped = schedule.skipped
    last = float("-inf")
    for seq, job in enumerate(jobs):
        submit, runtime, procs, requested = job.submit, job.runtime, job.procs, job.requested
        if submit < last:
            raise ValueError(
                f"jobs must be sorted by submit time: job {job.id} submits at {submit} after {last}; "
                "sort them first, e.g. sorted(jobs, key=lambda job: job.submit)"
            )
        last = submit
        if procs > capacity:
            skipped.append(Skipped(job, f"needs {procs} processors, the machine has {capacity}"))
            continue
        if procs < 1 or not runtime >= 0:
            skipped.append(Skipped(job, "needs at least 1 processor and a non-negative runtime"))
            continue
        if requested is None or not requested > 0:
            requested = runtime
        elif kill_at_limit and runtime > requested:
            runtime = requested
            schedule.truncated += 1
        yield seq, submit, procs, requested, runtime, job
