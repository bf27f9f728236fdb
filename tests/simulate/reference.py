"""A deliberately naive EASY model for cross-checking the fast one: full queue scan after every event.

It shares no code with :mod:`hpcpolicy.simulate.scheduler`; it computes the shadow time from its
definition (earliest instant by which enough processors are expected free) instead of a sorted list.
"""

from __future__ import annotations

from collections.abc import Sequence

from hpcpolicy.simulate import SimJob


def reference_easy(jobs: Sequence[SimJob], capacity: int, kill_at_limit: bool = True) -> dict[int, tuple[float, float]]:
    """Start and end per job index (oversized jobs absent)."""
    waiting: list[tuple[int, float, int, float, float]] = []  # (index, submit, procs, req, run)
    pending: list[tuple[int, float, int, float, float]] = []
    for index, job in enumerate(jobs):
        if 1 <= job.procs <= capacity:
            req = job.requested if job.requested is not None and job.requested > 0 else job.runtime
            run = min(job.runtime, req) if kill_at_limit else job.runtime
            pending.append((index, job.submit, job.procs, req, run))
    running: list[tuple[float, float, int]] = []  # (end, expected end, procs)
    result: dict[int, tuple[float, float]] = {}
    free = capacity

    def start(job: tuple[int, float, int, float, float], now: float) -> None:
        nonlocal free
        waiting.remove(job)
        free -= job[2]
        running.append((now + job[4], now + job[3], job[2]))
        result[job[0]] = (now, now + job[4])

    def schedule(now: float) -> None:
        while waiting and waiting[0][2] <= free:
            start(waiting[0], now)
        if not waiting:
            return
        need = waiting[0][2]
        ends = sorted({max(expected, now) for _, expected, _ in running})
        shadow = next(t for t in ends if free + sum(p for _, e, p in running if max(e, now) <= t) >= need)
        extra = free + sum(p for _, e, p in running if max(e, now) <= shadow) - need
        for job in list(waiting[1:]):
            if job[2] <= free:
                if now + job[3] <= shadow:
                    start(job, now)
                elif job[2] <= extra:
                    extra -= job[2]
                    start(job, now)

    while pending or running:
        next_end = min((end for end, _, _ in running), default=float("inf"))
        if pending and pending[0][1] < next_end:
            now = pending[0][1]
            waiting.append(pending.pop(0))
        else:
            now = next_end
            for item in [item for item in running if item[0] == now]:
                running.remove(item)
                free += item[2]
        schedule(now)
    return result
