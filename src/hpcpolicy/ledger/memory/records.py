"""The in-memory ledger's balance records: dated amounts with prefix sums, open-lien totals, hints."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable
from datetime import datetime
from typing import NamedTuple

from hpcpolicy.engine.rules.quotas import Used
from hpcpolicy.engine.usage import Amounts

#: Who a charge was: (user, cluster, partition, GPU type), what a derived counter's filter reads.
Who = tuple[str, str | None, str | None, str | None]
NOBODY: Who = ("", None, None, None)  # an adjustment's entry: it belongs to no job


class Timeline:
    """Dated amounts in time order with prefix sums: ``cpu[i]`` is the CPU-hours of the first i entries.

    ``who[i]`` says whose the i-th entry is, so a counter registered later (a member's, a slice's) can be
    filled from the timeline of the scope it narrows, without a pass over every charge.
    """

    __slots__ = ("amounts", "cost", "cpu", "gpu", "inserted", "times", "who")

    def __init__(self) -> None:
        self.times: list[datetime] = []
        self.amounts: list[Used] = []  # kept to rebuild the sums after an insertion
        self.who: list[Who] = []
        self.cpu: list[float] = [0.0]
        self.gpu: list[float] = [0.0]
        self.cost: list[float] = [0.0]
        self.inserted = 0  # entries placed before the last one: sums of past windows may have changed

    def add(self, at: datetime, entry: Used, who: Who = NOBODY) -> None:
        times = self.times
        if times and at < times[-1]:  # out of order: insert and rebuild the sums after it (rare)
            i = bisect_left(times, at)
            self.inserted += 1
            times.insert(i, at)
            self.amounts.insert(i, entry)
            self.who.insert(i, who)
            for sums in (self.cpu, self.gpu, self.cost):
                del sums[i + 1 :]
            for cpu, gpu, cost in self.amounts[i:]:
                self.cpu.append(self.cpu[-1] + cpu)
                self.gpu.append(self.gpu[-1] + gpu)
                self.cost.append(self.cost[-1] + cost)
            return
        times.append(at)
        self.amounts.append(entry)
        self.who.append(who)
        sums = self.cpu
        sums.append(sums[-1] + entry[0])
        sums = self.gpu
        sums.append(sums[-1] + entry[1])
        sums = self.cost
        sums.append(sums[-1] + entry[2])

    def between(self, start: datetime, end: datetime) -> Used:
        times = self.times
        j, i = bisect_left(times, end), bisect_left(times, start)
        return self.cpu[j] - self.cpu[i], self.gpu[j] - self.gpu[i], self.cost[j] - self.cost[i]


def settled_between(
    timeline: Timeline | None, adjustments: Iterable[Timeline | None], start: datetime, end: datetime
) -> Used:
    """Charges on ``timeline`` plus the signed adjustments on ``adjustments`` dated in ``[start, end)``."""
    cpu, gpu, cost = timeline.between(start, end) if timeline is not None and timeline.times else (0.0, 0.0, 0.0)
    for adjusted in adjustments:
        if adjusted is not None and adjusted.times:
            a_cpu, a_gpu, a_cost = adjusted.between(start, end)
            cpu, gpu, cost = cpu + a_cpu, gpu + a_gpu, cost + a_cost
    return cpu, gpu, cost


class Held:
    """Open liens on one scope: their summed amounts, how many, and their GPUs."""

    __slots__ = ("cost", "cpu", "gpu", "gpus", "jobs")

    def __init__(self) -> None:
        self.cpu = self.gpu = self.cost = 0.0
        self.jobs = self.gpus = 0


class Scopes(NamedTuple):
    """The balance records of one account path's scopes, resolved once per distinct path."""

    held: tuple[Held, ...]
    timelines: tuple[Timeline, ...]


class Cursor:
    """Hints, checked before use: one resolved quota's last calendar or fixed window (it holds while ``now``
    is inside) and where its start fell in the scope's timeline (it stays while charges are appended)."""

    __slots__ = ("before", "before_key", "before_used", "end", "index", "start")

    def __init__(self) -> None:
        self.start: datetime | None = None
        self.end: datetime | None = None
        self.index = 0
        # carry-over: the previous window, and what was settled in it, valid while ``before_key`` holds
        self.before: tuple[datetime, datetime] | None = None
        self.before_key: tuple[datetime | None, int, int] | None = None
        self.before_used: Amounts | None = None
