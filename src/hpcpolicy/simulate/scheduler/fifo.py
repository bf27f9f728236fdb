"""Strict first-come-first-served: the queue head starts as soon as enough processors are free.

Nobody overtakes, so processors can idle while the head waits for more to free up; this is the
baseline backfilling is measured against. Cost is O(log n) per job (one heap of running jobs).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from heapq import heappop, heappush

from ..workload import Placement, Schedule, SimJob
from .admit import Entry, admitted


def schedule_fifo(jobs: Iterable[SimJob], capacity: int, *, kill_at_limit: bool = True) -> Schedule:
    """Replay ``jobs`` (sorted by submit) on ``capacity`` processors in strict FIFO order.

    Jobs run for their actual runtime, cut at their requested time when ``kill_at_limit`` (the
    default, matching EASY). Completions at an instant free processors before arrivals at that instant.
    """
    schedule = Schedule("fifo", capacity)
    place = schedule.placements.append
    running: list[tuple[float, int]] = []  # heap of (end, procs)
    queue: deque[Entry] = deque()
    free = capacity

    def drain(until: float) -> None:
        """Process completions up to ``until``, starting queue heads as processors free."""
        nonlocal free
        while running and running[0][0] <= until:
            now, procs = heappop(running)
            free += procs
            while queue and queue[0][2] <= free:
                _seq, submit, need, _req, run, job = queue.popleft()
                free -= need
                heappush(running, (now + run, need))
                place(Placement(job.id, submit, now, now + run, need))

    for entry in admitted(jobs, schedule, kill_at_limit):
        _seq, submit, need, _req, run, job = entry
        if running and running[0][0] <= submit:
            drain(submit)
        if not queue and need <= free:
            free -= need
            heappush(running, (submit + run, need))
            place(Placement(job.id, submit, submit, submit + run, need))
        else:
            queue.append(entry)
    drain(float("inf"))
    return schedule
