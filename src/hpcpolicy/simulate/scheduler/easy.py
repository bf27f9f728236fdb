"""EASY backfilling (Lifka 1995; Mu'alem & Feitelson 2001): FIFO plus one reservation for the queue head.

When the head does not fit, it gets a reservation at the *shadow time*: the earliest instant at
which, going by the *requested* walltimes of running jobs (start + requested, sorted), enough
processors will be free. ``extra`` is what will be free at that instant beyond the head's need. A
later job may start now if it fits the free processors and either ends (by its request) before
the shadow time or uses only extra processors; candidates are tried in arrival order. With
``kill_at_limit`` (default) a job runs ``min(actual, requested)``, so the head never starts later
than its first reservation; without it a job that overruns its request is expected to end "now",
and the reservation can slip.

Cost: running jobs sit in an end-time heap (events) and a list sorted by expected end (shadow
computation, O(running) per completion). A backfill pass runs only when processors are released,
and looks only at the jobs that can pass (see :mod:`.backlog`); with ``kill_at_limit`` a mere arrival
cannot change the shadow time or ``extra``, so only the newcomer is tested. Without it an overrunning
job moves the shadow time with the clock, so an arrival recomputes the reservation and, when it
changed, passes over the whole queue as a completion would.

Queue order is arrival order, or with an :class:`~.ranked.Ordering` a priority order: the ``fairshare``
model is this one over fair-share priorities (EASY over the priority order, as Slurm's backfill runs over
its multifactor order). Only the head and the order candidates are tried in change (the backlog's job);
one more rule follows from them: an arrival that outranks the head, or new priorities, move the head,
so they trigger a full pass as a completion does.

Like :class:`~.fifo.Fifo`, the model is a state machine (``enqueue``, ``advance``, ``drain``) so a
policy replay can interleave its own events; :func:`schedule_easy` is the whole-trace shortcut.
"""

from __future__ import annotations

import math
from bisect import bisect_left, insort
from collections.abc import Iterable
from heapq import heappop, heappush

from ..workload import Placement, Schedule, SimJob
from .admit import Entry, Intake, Queues
from .backlog import Backlog
from .ranked import Ordering, RankedBacklog


class Easy(Queues):
    """One EASY replay: ``schedule`` fills with placements in order of start.

    ``ordering`` (None: arrival order) ranks the queue by priority; the model is then named ``fairshare``.
    A head can then lose its place to a job of higher priority, and a placement's ``reserved`` is the
    reservation the job got when it last became the blocked head.
    """

    def __init__(self, capacity: int, *, kill_at_limit: bool = True, ordering: Ordering | None = None) -> None:
        self.name = "easy" if ordering is None else "fairshare"
        schedule = self.schedule = Schedule(self.name, capacity)
        self.intake = Intake(schedule, kill_at_limit)
        self.place = schedule.placements.append
        self.free = schedule.capacity
        self.running: list[tuple[float, float, int]] = []  # heap of (end, expected end, procs)
        self.expected: list[tuple[float, int]] = []  # sorted (expected end, procs)
        self.backlog: Backlog | RankedBacklog = Backlog() if ordering is None else RankedBacklog(ordering)
        self.shadow = float("inf")
        self.extra = 0
        self.head = -1  # seq of the head the current reservation belongs to
        self.reserved: float | None = None  # its first reservation
        self.stale_shadow = not kill_at_limit  # overrunning jobs move the shadow with the clock

    def start(self, entry: Entry, now: float) -> None:
        seq, _queued, need, req, run, job = entry
        self.free -= need
        expected = now + req
        heappush(self.running, (now + run, expected, need))
        insort(self.expected, (expected, need))
        reserved = self.reserved if seq == self.head else None
        self.place(Placement(job.id, job.submit, now, now + run, need, reserved))

    def __len__(self) -> int:
        """Jobs waiting in the queue."""
        return self.backlog.count

    def drain(self) -> Schedule:
        """Run every queued job to completion and return the schedule."""
        self.advance(float("inf"))
        return self.schedule

    def next_end(self) -> float:
        """When the next running job ends (infinity when none runs)."""
        return self.running[0][0] if self.running else math.inf

    def advance(self, until: float) -> None:
        """Release every job ending at or before ``until``, rescheduling after each distinct end time."""
        running, expected = self.running, self.expected
        while running and running[0][0] <= until:
            now = running[0][0]
            while running and running[0][0] == now:
                _end, exp, procs = heappop(running)
                del expected[bisect_left(expected, (exp, procs))]
                self.free += procs
            if self.backlog.count:
                self.reschedule(now)

    def reschedule(self, now: float) -> None:
        """Start heads that fit, reserve for the blocked head, then backfill the rest of the queue."""
        backlog = self.backlog
        backlog.sync(now)
        head = backlog.head()
        while head is not None and head[2] <= self.free:
            backlog.remove(head)
            self.start(head, now)
            head = backlog.head()
        if head is None:
            return
        self.reserve(head, now)
        if self.free == 0 or backlog.count == 1:
            return
        # Widened by a few ulps of the shadow time: the exact test below rounds now + req at that magnitude.
        window = self.shadow - now + 4 * math.ulp(self.shadow)
        for req, seq, entry in backlog.candidates(self.free, self.extra, window):
            if seq != head[0] and self.fits(entry[2], req, now):
                backlog.remove(entry)
                self.start(entry, now)
                if self.free == 0:
                    return

    def reserve(self, head: Entry, now: float) -> None:
        """Shadow time and extra processors for the queue head, from requested ends of running jobs.

        Every job expected to end by the shadow time counts towards ``extra``, including those tied
        with the one that completes the head's need.
        """
        need, available, expected = head[2], self.free, self.expected
        index, count = 0, len(expected)
        while index < count:
            available += expected[index][1]
            index += 1
            if available >= need:
                shadow = max(expected[index - 1][0], now)
                while index < count and expected[index][0] <= shadow:
                    available += expected[index][1]
                    index += 1
                self.shadow, self.extra = shadow, available - need
                break
        if head[0] != self.head:
            self.head, self.reserved = head[0], self.shadow

    def fits(self, need: int, req: float, now: float) -> bool:
        """Whether a non-head job may start now without delaying the head; books extra processors it uses."""
        if need > self.free:
            return False
        if now + req <= self.shadow:
            return True
        if need <= self.extra:
            self.extra -= need
            return True
        return False

    def enqueue(self, entry: Entry) -> None:
        """An arrival at its submit time; completions at that instant are processed first."""
        now = entry[1]
        if entry[4] < entry[5].runtime:
            self.schedule.truncated += 1
        if self.running and self.running[0][0] <= now:
            self.advance(now)
        if not self.backlog.count:
            if entry[2] <= self.free:
                self.start(entry, now)
            else:
                self.backlog.add(entry)
                self.reserve(entry, now)
            return
        if self.backlog.overtakes(entry, now):  # priority order: a new head, or new ranks
            self.backlog.add(entry)
            self.reschedule(now)
            return
        if self.stale_shadow:
            head = self.backlog.head()
            assert head is not None
            before = self.shadow, self.extra
            self.reserve(head, now)
            if (self.shadow, self.extra) != before:  # jobs passed over earlier may fit now: a full pass
                self.backlog.add(entry)
                self.reschedule(now)
                return
        if self.fits(entry[2], entry[3], now):
            self.start(entry, now)
        else:
            self.backlog.add(entry)


def schedule_easy(jobs: Iterable[SimJob], capacity: int, *, kill_at_limit: bool = True) -> Schedule:
    """Replay ``jobs`` (sorted by submit) on ``capacity`` processors with EASY backfilling.

    Requested times fall back to the actual runtime when unknown (perfect estimates, as with the
    NASA and lublin traces). Completions at an instant free processors before arrivals at that instant.
    """
    model = Easy(capacity, kill_at_limit=kill_at_limit)
    submit = model.submit
    for job in jobs:
        submit(job)
    return model.drain()
