"""The in-memory ledger's balances: what every counter holds (open liens) and has settled (charges).

A *counter* is what a quota counts (:mod:`hpcpolicy.ledger.counters`). The four scopes of an account path
(user, project, team, org) are counted for every lien and charge, as always. A *derived* counter — a
project member's scope, or any scope restricted to a slice of the machine — is registered the first time
a quota needing it is asked about, filled from the liens and charges already there, and from then on
counted like the others for every entry it admits. A policy without such quotas pays nothing for them.

Adjustments are kept apart, per target (a scope or a quota id), and added to what a quota counts when
the quota's counter lists the target.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable
from datetime import datetime
from typing import NamedTuple

from hpcpolicy.engine import Active, Amounts, QuotaRef
from hpcpolicy.engine.rules.quotas import Used
from hpcpolicy.engine.slices import Slice
from hpcpolicy.engine.usage import IDLE
from hpcpolicy.ledger.counters import Counter, InSlice, counter, counts_toward
from hpcpolicy.ledger.memory.records import Cursor, Held, Scopes, Timeline, Who, settled_between
from hpcpolicy.ledger.model import Lien
from hpcpolicy.ledger.rules import lien_scopes

Resolved = tuple[tuple[QuotaRef, Held, Timeline, Cursor, tuple[Timeline, ...]], ...]
"""Quotas with their counter's records, a cursor each, and their adjustment timelines (:meth:`resolve`)."""


class _Derived(NamedTuple):
    key: str
    user: str | None  # a member's counter: only this user's entries of the project
    slice: Slice | None

    def admits(self, entry: InSlice) -> bool:
        return (self.user is None or entry.user_id == self.user) and counts_toward(entry, self.slice)

    def admits_who(self, who: Who) -> bool:
        user, cluster, partition, gpu_type = who
        sliced = self.slice
        return (self.user is None or user == self.user) and (
            sliced is None or sliced.admits(cluster, partition, gpu_type)
        )


#: A path scope's kind → its place in a cached path's key (see :meth:`Counting.scopes`; a service is last).
_PATH_POSITION = {"user": 0, "project": 1, "team": 2, "org": 3, "service": -1}


class Counting:
    def __init__(self) -> None:
        self.held: dict[str, Held] = {}
        self.entries: dict[str, Timeline] = {}
        self.adjusted: dict[str, Timeline] = {}
        self.adjusting = False  # whether any adjustment was ever recorded
        self.charged: set[tuple[str, str]] = set()  # (project, user) pairs with a charge: members to fill
        self.holding: dict[str, Scopes] = {}  # open lien id → the records it is counted on
        self._derived: dict[str, list[_Derived]] = {}  # base scope → derived counters on it
        self._paths: dict[tuple[str | None, ...], Scopes] = {}

    def scopes(self, entry: InSlice) -> Scopes:
        """The records ``entry`` counts on: its path's four scopes, and the derived counters admitting it."""
        derived = self._derived
        service = getattr(entry, "service", None)  # liens may name one; charges never do
        if derived:
            key: tuple[str | None, ...] = (entry.user_id, entry.project, entry.team, entry.org,
                                           entry.cluster, entry.partition, entry.gpu_type, service)  # fmt: skip
        else:
            key = (entry.user_id, entry.project, entry.team, entry.org, service)
        found = self._paths.get(key)
        if found is None:
            names = lien_scopes(entry)
            counters = list(names)
            for name in names:
                counters += [d.key for d in derived.get(name, ()) if d.admits(entry)]
            held = tuple(self.held.setdefault(name, Held()) for name in counters)
            timelines = tuple(self.entries.setdefault(name, Timeline()) for name in counters)
            found = self._paths[key] = Scopes(held, timelines)
        return found

    def hold(self, lien: Lien, sign: int) -> Scopes:
        """Count an opened lien (+1), or stop counting a closed one (-1) where it was counted."""
        amounts, gpus = lien.amounts, lien.gpus
        cpu, gpu, cost = amounts.cpu_hours, amounts.gpu_hours, amounts.cost
        if sign > 0:
            scopes = self.holding[lien.id] = self.scopes(lien)
            for held in scopes.held:
                held.cpu += cpu
                held.gpu += gpu
                held.cost += cost
                held.jobs += 1
                held.gpus += gpus
        else:
            scopes = self.holding.pop(lien.id)
            for held in scopes.held:
                held.cpu -= cpu
                held.gpu -= gpu
                held.cost -= cost
                held.jobs -= 1
                held.gpus -= gpus
        return scopes

    def register(self, found: Counter, liens: dict[str, Lien]) -> None:
        """Make ``found`` counted from now on, filled with the open ``liens`` and the charges already counted
        on the path scope it narrows (read off that scope's timeline)."""
        columns = found.columns
        user = columns[1][1] if len(columns) == 2 else None
        if (user is None and found.slice is None) or found.key in self.held:
            return  # one of the four path scopes (always counted), or already registered
        base = found.scope.partition("/")[0] if user is not None else found.scope  # a member's project, a service
        derived = _Derived(found.key, user, found.slice)
        held, timeline = self.held.setdefault(found.key, Held()), self.entries.setdefault(found.key, Timeline())
        for lien_id, scopes in self.holding.items():
            lien = liens[lien_id]
            if base in lien_scopes(lien) and derived.admits(lien):
                held.cpu += lien.amounts.cpu_hours
                held.gpu += lien.amounts.gpu_hours
                held.cost += lien.amounts.cost
                held.jobs += 1
                held.gpus += lien.gpus
                self.holding[lien_id] = Scopes((*scopes.held, held), (*scopes.timelines, timeline))
        narrowed = self.entries.get(base)
        if user is not None and (columns[0][1], user) not in self.charged:
            narrowed = None  # a member who never charged the project: nothing to read (the usual case)
        if narrowed is not None:
            for at, entry, who in zip(narrowed.times, narrowed.amounts, narrowed.who, strict=True):
                if derived.admits_who(who):
                    timeline.add(at, entry, who)
        first = not self._derived
        self._derived.setdefault(base, []).append(derived)
        self._forget_paths(base, everything=first)

    def _forget_paths(self, base: str, *, everything: bool) -> None:
        """Drop the cached paths through ``base``: they do not know its new counter. (Paths elsewhere stay:
        a replay registers a member's counter per member, and rebuilding every path each time was a tenth
        of its time. Before the first derived counter, paths were keyed without a route: drop them all.)"""
        kind, _, name = base.partition(":")
        position = _PATH_POSITION.get(kind)
        if everything or position is None:
            self._paths.clear()
        else:
            self._paths = {key: found for key, found in self._paths.items() if key[position] != name}

    def resolve(self, quotas: Iterable[QuotaRef]) -> Resolved:
        """``quotas`` with their records, for :meth:`balances` (registered derived counters first)."""
        held, entries, adjusted = self.held, self.entries, self.adjusted
        out = []
        for ref in quotas:
            key = ref.counter
            targets = counter(ref).adjusted
            out.append((ref, held.get(key) or held.setdefault(key, Held()),
                        entries.get(key) or entries.setdefault(key, Timeline()), Cursor(),
                        tuple(adjusted.setdefault(t, Timeline()) for t in targets)))  # fmt: skip
        return tuple(out)

    def previous(self, quotas: Resolved, now: datetime) -> dict[str, Amounts]:
        """What each quota with carry-over settled in its previous calendar window: its counter's charges
        and adjustments dated in it (``UsageSnapshot.previous``; open liens count now, not then)."""
        out: dict[str, Amounts] = {}
        for ref, _, timeline, cursor, adjustments in quotas:
            if ref.soft is None or ref.soft.carry is None:
                continue
            # The previous window follows from the current one (kept by ``balances``), and its sum stays
            # while nothing is inserted into the timeline and entries are appended after the window's
            # end: a replay computes it once a month, not once a decision.
            start, times = cursor.start, timeline.times
            if start is None or cursor.before_key is None or cursor.before_key[0] != start:
                cursor.before = ref.previous_bounds(now)
            before = cursor.before
            if before is None:
                continue
            closed = not times or times[-1] >= before[1]  # later appends cannot fall inside
            key = (start, timeline.inserted, len(times) if not closed else -1)
            if key == cursor.before_key and not self.adjusting and cursor.before_used is not None:
                out[ref.id] = cursor.before_used
                continue
            used = settled_between(timeline, adjustments if self.adjusting else (), *before)
            out[ref.id] = cursor.before_used = Amounts(*used)
            cursor.before_key = key
        return out

    def balances(self, quotas: Resolved, now: datetime) -> tuple[list[Used], list[Active]]:
        """The usage snapshot's content per quota, in order, as the engine's ``decide_balances`` takes it.

        ``used[k]``: charges and adjustments dated in ``quotas[k]``'s window plus its counter's open liens
        (the rule of :func:`hpcpolicy.ledger.rules.snapshot`), summed on the floats; ``active[k]``: the
        jobs and GPUs open on its counter where the quota limits concurrency (``IDLE`` elsewhere, unread).
        """
        used: list[Used] = []
        active: list[Active] = []
        adjusting = self.adjusting  # never in a replay: its adjustment timelines are all empty
        for ref, held, timeline, cursor, adjustments in quotas:
            active.append(Active(held.jobs, held.gpus) if ref.concurrent else IDLE)
            times = timeline.times
            j = len(times)
            if j:  # Timeline.between, inline and with hints: this runs for every quota of every decision
                start, end = cursor.start, cursor.end
                if start is None or end is None or ref.rolling is not None or not start <= now < end:
                    start, end = ref.bounds(now)
                    if ref.rolling is None:
                        cursor.start, cursor.end = start, end
                i = cursor.index  # bisect_left(times, start), from the hint:
                if i < j and times[i] < start:  # the start moved on (a rolling window): look after the hint
                    i = cursor.index = bisect_left(times, start, i + 1)
                elif i and times[i - 1] >= start:  # it moved back, or entries were inserted before it
                    i = cursor.index = bisect_left(times, start, 0, i - 1)
                if times[-1] >= end:  # else everything is dated before the end, as usual
                    j = bisect_left(times, end)
                sums = timeline.cpu
                cpu = sums[j] - sums[i]
                sums = timeline.gpu
                gpu = sums[j] - sums[i]
                sums = timeline.cost
                cost = sums[j] - sums[i]
            else:  # 0.0 + held, as rules.snapshot adds settled ZERO to the held sums
                cpu = gpu = cost = 0.0
            for adjusted in adjustments if adjusting else ():  # one or two timelines, nearly always empty
                if adjusted.times:
                    a_cpu, a_gpu, a_cost = adjusted.between(*ref.bounds(now))
                    cpu, gpu, cost = cpu + a_cpu, gpu + a_gpu, cost + a_cost
            used.append((cpu + held.cpu, gpu + held.gpu, cost + held.cost))
        return used, active
