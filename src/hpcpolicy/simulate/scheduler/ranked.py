"""A waiting queue in priority order, for EASY over a priority (the ``fairshare`` model).

Priorities move: fair-share factors change as usage accrues and decays, and age grows. Slurm does not
chase that continuously; it recomputes every pending job's priority once per ``PriorityCalcPeriod`` and
gives a new job its priority at submit. So does this queue: an :class:`Ordering` says when its factors
were last recomputed (a version), and on a new version every waiting job is ranked again at that
instant; in between, ranks stand and an arrival is ranked when it comes. Ties go to the earlier arrival
(the sequence number), so a replay is deterministic.

The head is the top of a heap with lazy deletion (a job started by backfill stays in the heap until it
surfaces); candidates come from the same buckets as in arrival order (:class:`~.backlog.Buckets`),
sorted by rank.
"""

from __future__ import annotations

from heapq import heapify, heappop, heappush
from typing import Protocol

from ..workload import SimJob
from .admit import Entry
from .backlog import Buckets, Item

Rank = tuple[float, int]  # (−priority, seq): smaller goes first


class Ordering(Protocol):
    """Where priorities come from (the replay's fair share, :mod:`hpcpolicy.simulate.fairshare`)."""

    def refresh(self, now: float) -> int:
        """Recompute the factors if they are due at ``now``; the version of the factors now in force."""
        ...

    def priority(self, job: SimJob, now: float) -> float: ...


class RankedBacklog(Buckets):
    """Waiting jobs by rank: the head is the highest priority, candidates are tried by priority."""

    def __init__(self, ordering: Ordering) -> None:
        super().__init__()
        self.ordering = ordering
        self.waiting: dict[int, Entry] = {}  # seq → entry
        self.rank: dict[int, Rank] = {}  # seq → rank of each waiting job
        self.heap: list[tuple[float, int, Entry]] = []
        self.version: int | None = None
        self.order_key = self._rank_of

    def _rank_of(self, item: Item) -> Rank:
        return self.rank[item[1]]

    def _ranked(self, entry: Entry, now: float) -> Rank:
        return -self.ordering.priority(entry[5], now), entry[0]

    def add(self, entry: Entry) -> None:
        seq = entry[0]
        rank = self.rank[seq] = self._ranked(entry, entry[1])  # added when it joins the queue: entry[1] is now
        self.waiting[seq] = entry
        heappush(self.heap, (rank[0], seq, entry))
        self.file(entry)

    def head(self) -> Entry | None:
        """The waiting job of highest priority."""
        heap, waiting = self.heap, self.waiting
        while heap and heap[0][1] not in waiting:
            heappop(heap)
        return heap[0][2] if heap else None

    def remove(self, entry: Entry) -> None:
        """Forget a job that started."""
        seq = entry[0]
        del self.waiting[seq], self.rank[seq]
        if self.heap[0][1] == seq:
            heappop(self.heap)
        self.unfile(entry)

    def sync(self, now: float) -> None:
        """Rank every waiting job again when the ordering has new factors (at most once per period). A single
        waiting job needs no order: then the factors are not even asked for (they cost a tree walk)."""
        if self.count > 1:
            self._refresh(now)

    def _refresh(self, now: float) -> None:
        version = self.ordering.refresh(now)
        if version == self.version:
            return
        self.version = version
        ranked = self._ranked
        self.rank = {seq: ranked(entry, now) for seq, entry in self.waiting.items()}
        self.heap = [(rank[0], seq, self.waiting[seq]) for seq, rank in self.rank.items()]
        heapify(self.heap)

    def overtakes(self, entry: Entry, now: float) -> bool:
        """Whether the arrival outranks the head, or the ranks were refreshed: then a full pass is due."""
        before = self.version
        self._refresh(now)
        rank = self._ranked(entry, now)
        head = self.head()
        return before != self.version or head is None or rank < self.rank[head[0]]
