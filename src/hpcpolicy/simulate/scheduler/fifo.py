"""Strict first-come-first-served: the queue head starts as soon as enough processors are free.

Nobody overtakes, so processors can idle while the head waits for more to free up; this is the
baseline backfilling is measured against. Cost is O(log n) per job (one heap of running jobs).

The model is a small state machine so that a policy replay can interleave its own events with the
scheduler's: ``advance(t)`` processes every completion up to ``t`` (and the starts they allow),
``enqueue(entry)`` adds an arrival, ``drain()`` runs the queue dry. :func:`schedule_fifo` is the
whole-trace shortcut.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from heapq import heappop, heappush

from ..workload import Placement, Schedule, SimJob
from .admit import Entry, Intake, Queues


class Fifo(Queues):
    """One FIFO replay: ``schedule`` fills with placements in order of start."""

    name = "fifo"

    def __init__(self, capacity: int, *, kill_at_limit: bool = True) -> None:
        self.schedule = Schedule("fifo", capacity)
        self.intake = Intake(self.schedule, kill_at_limit)
        self.running: list[tuple[float, int]] = []  # heap of (end, procs)
        self.queue: deque[Entry] = deque()
        self.free = capacity

    def __len__(self) -> int:
        """Jobs waiting in the queue."""
        return len(self.queue)

    def enqueue(self, entry: Entry) -> None:
        """An arrival at its submit time; completions at that instant are processed first."""
        _seq, now, need, _req, run, job = entry
        if run < job.runtime:
            self.schedule.truncated += 1
        running = self.running
        if running and running[0][0] <= now:
            self.advance(now)
        if not self.queue and need <= self.free:
            self.free -= need
            heappush(running, (now + run, need))
            self.schedule.placements.append(Placement(job.id, job.submit, now, now + run, need))
        else:
            self.queue.append(entry)

    def advance(self, until: float) -> None:
        """Process completions up to ``until``, starting queue heads as processors free."""
        running, queue, place = self.running, self.queue, self.schedule.placements.append
        free = self.free
        while running and running[0][0] <= until:
            now, procs = heappop(running)
            free += procs
            while queue and queue[0][2] <= free:
                _seq, _queued, need, _req, run, job = queue.popleft()
                free -= need
                heappush(running, (now + run, need))
                place(Placement(job.id, job.submit, now, now + run, need))
        self.free = free

    def drain(self) -> Schedule:
        """Run every queued job to completion and return the schedule."""
        self.advance(float("inf"))
        return self.schedule

    def next_end(self) -> float:
        """When the next running job ends (infinity when none runs)."""
        return self.running[0][0] if self.running else float("inf")


def schedule_fifo(jobs: Iterable[SimJob], capacity: int, *, kill_at_limit: bool = True) -> Schedule:
    """Replay ``jobs`` (sorted by submit) on ``capacity`` processors in strict FIFO order.

    Jobs run for their actual runtime, cut at their requested time when ``kill_at_limit`` (the
    default, matching EASY). Completions at an instant free processors before arrivals at that instant.
    """
    model = Fifo(capacity, kill_at_limit=kill_at_limit)
    submit = model.submit
    for job in jobs:
        submit(job)
    return model.drain()
