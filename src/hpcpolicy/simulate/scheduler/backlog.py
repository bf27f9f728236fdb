"""EASY's waiting queue, indexed so a backfill pass does not have to look at every waiting job.

A backfill candidate must fit the free processors and either end (by its request) before the
shadow time or fit the extra processors. Waiting jobs are therefore kept both in arrival order
(to find the head) and in buckets per processor count, each bucket sorted by requested time:
the jobs that pass at the start of a pass are whole buckets up to ``extra`` plus a ``bisect``
prefix of the buckets up to ``free``. Only those are examined, in arrival order; the rest of a
congested queue (hundreds of jobs on the lublin trace) is never touched.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right, insort
from collections import deque
from operator import itemgetter

from .admit import Entry

_BY_SEQ = itemgetter(1)
Item = tuple[float, int, Entry]  # (requested, seq, entry): a bucket's sort order


class Backlog:
    """Waiting jobs: arrival order for the head, per-size buckets sorted by request for candidates."""

    def __init__(self) -> None:
        self.order: deque[Entry] = deque()
        self.gone: set[int] = set()  # seqs started out of order, still in ``order`` until they reach its front
        self.buckets: dict[int, list[Item]] = {}
        self.sizes: list[int] = []  # sorted processor counts that have a bucket
        self.count = 0

    def __len__(self) -> int:
        return self.count

    def add(self, entry: Entry) -> None:
        self.order.append(entry)
        procs = entry[2]
        bucket = self.buckets.get(procs)
        if bucket is None:
            bucket = self.buckets[procs] = []
            insort(self.sizes, procs)
        insort(bucket, (entry[3], entry[0], entry))
        self.count += 1

    def head(self) -> Entry | None:
        """The earliest waiting job."""
        order, gone = self.order, self.gone
        while order and order[0][0] in gone:
            gone.discard(order.popleft()[0])
        return order[0] if order else None

    def remove(self, entry: Entry) -> None:
        """Forget a job that started."""
        seq, procs = entry[0], entry[2]
        if self.order and self.order[0] is entry:
            self.order.popleft()
        else:
            self.gone.add(seq)
        bucket = self.buckets[procs]
        del bucket[bisect_left(bucket, (entry[3], seq))]
        if not bucket:
            del self.buckets[procs]
            del self.sizes[bisect_left(self.sizes, procs)]
        self.count -= 1

    def candidates(self, free: int, extra: int, window: float) -> list[Item]:
        """Jobs that could backfill now, in arrival order: procs ≤ min(free, extra), or procs ≤ free and req ≤ window.

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
        found.sort(key=_BY_SEQ)
        return found
