"""EASY's waiting queue, indexed so a backfill pass does not have to look at every waiting job.

A backfill candidate must fit the free processors and either end (by its request) before the
shadow time or fit the extra processors. Waiting jobs are therefore kept both in queue order
(to find the head) and in buckets per processor count, each bucket sorted by requested time:
the jobs that pass at the start of a pass are whole buckets up to ``extra`` plus a ``bisect``
prefix of the buckets up to ``free``. Only those are examined, in queue order; the rest of a
congested queue (hundreds of jobs on the lublin trace) is never touched.

Queue order is arrival order (:class:`Backlog`, plain EASY) or priority order
(:class:`~.ranked.RankedBacklog`, the fair-share model): the buckets are the same, only the head and
the order candidates are tried in differ, so both share :class:`Buckets`.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right, insort
from collections import deque
from collections.abc import Callable
from operator import itemgetter
from typing import Any

from .admit import Entry

_BY_SEQ = itemgetter(1)
Item = tuple[float, int, Entry]  # (requested, seq, entry): a bucket's sort order


class Buckets:
    """Waiting jobs by processor count, each bucket sorted by requested time; candidates in ``order``."""

    order_key: Callable[[Item], Any] = _BY_SEQ

    def __init__(self) -> None:
        self.buckets: dict[int, list[Item]] = {}
        self.sizes: list[int] = []  # sorted processor counts that have a bucket
        self.count = 0

    def __len__(self) -> int:
        return self.count

    def file(self, entry: Entry) -> None:
        procs = entry[2]
        bucket = self.buckets.get(procs)
        if bucket is None:
            bucket = self.buckets[procs] = []
            insort(self.sizes, procs)
        insort(bucket, (entry[3], entry[0], entry))
        self.count += 1

    def unfile(self, entry: Entry) -> None:
        procs = entry[2]
        bucket = self.buckets[procs]
        del bucket[bisect_left(bucket, (entry[3], entry[0]))]
        if not bucket:
            del self.buckets[procs]
            del self.sizes[bisect_left(self.sizes, procs)]
        self.count -= 1

    def candidates(self, free: int, extra: int, window: float) -> list[Item]:
        """Jobs that could backfill now, in queue order: procs ≤ min(free, extra), or procs ≤ free and req ≤ window.

        ``window`` should be generous by a few ulps (the caller's exact test rounds ``now + req``).
        """
        anything = min(free, extra)
        found: list[Item] = []
        buckets = self.buckets
        for procs in self.sizes[: bisect_right(self.sizes, free)]:
            bucket = buckets[procs]
            if procs <= anything:
                found += bucket
            else:
                found += bucket[: bisect_right(bucket, (window, math.inf))]
        found.sort(key=self.order_key)
        return found

    def sync(self, now: float) -> None:
        """Bring the queue order up to date at ``now`` (arrival order never changes)."""

    def overtakes(self, entry: Entry, now: float) -> bool:
        """Whether an arrival at ``now`` may change the head, so that a full pass is due (never in arrival order)."""
        return False


class Backlog(Buckets):
    """Waiting jobs in arrival order: a deque for the head, the buckets for candidates."""

    def __init__(self) -> None:
        super().__init__()
        self.order: deque[Entry] = deque()
        self.gone: set[int] = set()  # seqs started out of order, still in ``order`` until they reach its front

    def add(self, entry: Entry) -> None:
        self.order.append(entry)
        self.file(entry)

    def head(self) -> Entry | None:
        """The earliest waiting job."""
        order, gone = self.order, self.gone
        while order and order[0][0] in gone:
            gone.discard(order.popleft()[0])
        return order[0] if order else None

    def remove(self, entry: Entry) -> None:
        """Forget a job that started."""
        if self.order and self.order[0] is entry:
            self.order.popleft()
        else:
            self.gone.add(entry[0])
        self.unfile(entry)
