"""The in-memory ledger: the same contract and rules as the SQL ledger, at simulator speed.

Balances are kept incrementally so a query costs O(log n), not a scan: per scope, a timeline of settled
usage (charges and signed adjustments) with prefix sums, answering "sum dated in [start, end)" by
bisection; and running totals of open liens, from which liens past their TTL are removed lazily (time
moves forward, in the service and the simulator). Totals are plain floats, added in the same order as
``Amounts`` arithmetic would, so every sum is bit for bit the same; :meth:`MemoryLedger.usage` is
:func:`hpcpolicy.ledger.rules.snapshot` over this ledger (a test checks they agree exactly).

Not thread-safe and not durable: for tests, the simulator and single-threaded tools.
"""

from __future__ import annotations

import heapq
from bisect import bisect_left
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import NamedTuple

from hpcpolicy.engine import Active, Amounts, QuotaRef, UsageSnapshot
from hpcpolicy.engine.rules.quotas import Used
from hpcpolicy.engine.usage import IDLE, ZERO
from hpcpolicy.ledger.base import DuplicateKey
from hpcpolicy.ledger.model import Adjustment, Charge, DecisionRecord, Lien, LienState
from hpcpolicy.ledger.rules import ADJUSTMENT_SIGN, OPEN_STATES, OnPath, lien_counts, lien_scopes

_RESERVED, _EXPIRED = LienState.RESERVED, LienState.EXPIRED
_Path = tuple[str, str | None, str | None, str | None]
ChargeSpec = tuple[str, Amounts, str, str | None]  # what close_lien charges: (charge id, amounts, source, key)


class _Timeline:
    """Dated amounts in time order with prefix sums: ``cpu[i]`` is the CPU-hours of the first i entries."""

    __slots__ = ("amounts", "cost", "cpu", "gpu", "times")

    def __init__(self) -> None:
        self.times: list[datetime] = []
        self.amounts: list[Used] = []  # kept to rebuild the sums after an insertion
        self.cpu: list[float] = [0.0]
        self.gpu: list[float] = [0.0]
        self.cost: list[float] = [0.0]

    def add(self, at: datetime, entry: Used) -> None:
        times = self.times
        if times and at < times[-1]:  # out of order: insert and rebuild the sums after it (rare)
            i = bisect_left(times, at)
            times.insert(i, at)
            self.amounts.insert(i, entry)
            for sums in (self.cpu, self.gpu, self.cost):
                del sums[i + 1 :]
            for cpu, gpu, cost in self.amounts[i:]:
                self.cpu.append(self.cpu[-1] + cpu)
                self.gpu.append(self.gpu[-1] + gpu)
                self.cost.append(self.cost[-1] + cost)
            return
        times.append(at)
        self.amounts.append(entry)
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


class _Held:
    """Open liens on one scope: their summed amounts, how many, and their GPUs."""

    __slots__ = ("cost", "cpu", "gpu", "gpus", "jobs")

    def __init__(self) -> None:
        self.cpu = self.gpu = self.cost = 0.0
        self.jobs = self.gpus = 0


class _Scopes(NamedTuple):
    """The balance records of one account path's scopes, resolved once per distinct path."""

    held: tuple[_Held, ...]
    timelines: tuple[_Timeline, ...]


class _Cursor:
    """Hints, checked before use: one resolved quota's last calendar or fixed window (it holds while ``now``
    is inside) and where its start fell in the scope's timeline (it stays while charges are appended)."""

    __slots__ = ("end", "index", "start")

    def __init__(self) -> None:
        self.start: datetime | None = None
        self.end: datetime | None = None
        self.index = 0


Resolved = tuple[tuple[QuotaRef, _Held, _Timeline, _Cursor], ...]
"""Quotas with their scopes' balance records and a cursor each (:meth:`MemoryLedger.resolve`)."""


class MemoryLedger:
    def __init__(self) -> None:
        self._liens: dict[str, Lien] = {}
        self._by_job: dict[tuple[str, str], str] = {}  # (cluster, job id) -> lien id
        self._held: dict[str, _Held] = {}
        self._holding: dict[str, _Scopes] = {}  # open lien id → the records it is counted on
        self._expiry: list[tuple[datetime, str]] = []  # heap of reserved liens (expires_at, id), to expire lazily
        self._settled: dict[str, _Timeline] = {}
        self._paths: dict[_Path, _Scopes] = {}
        self._closing: dict[str, tuple[Lien, LienState, datetime, ChargeSpec | None]] = {}  # not yet written
        self._charges: dict[str, Charge] = {}
        self._charges_by_key: dict[str, str] = {}
        self._charges_by_lien: dict[str, list[str]] = {}
        self.adjustments: dict[str, Adjustment] = {}
        self._adjustments_by_key: dict[str, str] = {}
        self.decisions: dict[str, DecisionRecord] = {}
        self._decisions_by_key: dict[str, str] = {}

    @property
    def liens(self) -> dict[str, Lien]:
        self._write_closed()
        return self._liens

    @property
    def charges(self) -> dict[str, Charge]:
        self._write_closed()
        return self._charges

    # Ledger
    @contextmanager
    def session(self) -> Iterator[MemoryLedger]:
        yield self

    def ping(self) -> None:
        return None

    # LedgerSession
    def lock(self, scopes: Sequence[str]) -> None:
        return None  # one thread: nothing can interleave

    def settled(self, scope: str, start: datetime, end: datetime) -> Amounts:
        timeline = self._settled.get(scope)
        return Amounts(*timeline.between(start, end)) if timeline is not None else ZERO

    def reserved(self, scope: str, now: datetime) -> tuple[Amounts, Active]:
        self._expire_due(now)
        held = self._held.get(scope)
        if held is None:
            return ZERO, IDLE
        return Amounts(held.cpu, held.gpu, held.cost), Active(held.jobs, held.gpus)

    def usage(self, quotas: Iterable[QuotaRef], now: datetime) -> UsageSnapshot:
        """``rules.snapshot(quotas, now, self.settled, lambda scope: self.reserved(scope, now))``, faster."""
        resolved = self.resolve(quotas)
        used, _ = self.balances(resolved, now)
        return UsageSnapshot(
            {ref.id: Amounts(*consumed) for (ref, *_), consumed in zip(resolved, used, strict=True)},
            {ref.scope: Active(held.jobs, held.gpus) for ref, held, _, _ in resolved},
        )

    def resolve(self, quotas: Iterable[QuotaRef]) -> Resolved:
        """``quotas`` with their scopes' balance records (new ones empty: zero, as missing ones), for
        :meth:`balances`; valid for this ledger's life, so a caller asking again and again resolves once."""
        held, settled = self._held, self._settled
        return tuple(
            (ref, held.get(ref.scope) or held.setdefault(ref.scope, _Held()),
             settled.get(ref.scope) or settled.setdefault(ref.scope, _Timeline()), _Cursor())
            for ref in quotas
        )  # fmt: skip

    def balances(self, quotas: Resolved, now: datetime) -> tuple[list[Used], list[Active]]:
        """The usage snapshot's content per quota, in order, as the engine's ``decide_balances`` takes it.

        ``used[k]``: charges and adjustments dated in ``quotas[k]``'s window plus its scope's open liens
        (the rule of :func:`hpcpolicy.ledger.rules.snapshot`), summed on the floats; ``active[k]``: the
        jobs and GPUs open on its scope where the quota limits concurrency (``IDLE`` elsewhere, unread).
        """
        expiry = self._expiry
        if expiry and expiry[0][0] <= now:
            self._expire_due(now)
        used: list[Used] = []
        active: list[Active] = []
        for ref, held, timeline, cursor in quotas:
            active.append(Active(held.jobs, held.gpus) if ref.concurrent else IDLE)
            times = timeline.times
            j = len(times)
            if j:  # _Timeline.between, inline and with hints: this runs for every quota of every decision
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
                used.append((cpu + held.cpu, gpu + held.gpu, cost + held.cost))
            else:  # 0.0 + held, as rules.snapshot adds settled ZERO to the held sums
                used.append((0.0 + held.cpu, 0.0 + held.gpu, 0.0 + held.cost))
        return used, active

    def add_lien(self, lien: Lien) -> None:
        if lien.id in self._liens:
            raise ValueError(f"lien {lien.id} exists")
        if lien.job_id:
            self._bind_job(lien)
        self._liens[lien.id] = lien
        state = lien.state
        if state in OPEN_STATES:
            self._hold(lien, +1)
            if state == _RESERVED:
                heapq.heappush(self._expiry, (lien.expires_at, lien.id))

    def update_lien(self, lien: Lien) -> None:
        if lien.id in self._closing:
            self._write_closed()
        old = self._liens[lien.id]
        if lien.job_id and lien.job_id != old.job_id:
            self._bind_job(lien)  # first: a duplicate job id must leave the lien as it was
        was_open, now_open = old.state in OPEN_STATES, lien.state in OPEN_STATES
        # An open lien that moves to another path or changes its amounts is counted again, as SQL sums it.
        moved = was_open and now_open and (old.user_id, old.project, old.team, old.org, old.amounts, old.gpus) != (
            lien.user_id, lien.project, lien.team, lien.org, lien.amounts, lien.gpus)  # fmt: skip
        if was_open and (not now_open or moved):
            self._hold(old, -1)
        if now_open and (not was_open or moved):
            self._hold(lien, +1)
        self._liens[lien.id] = lien

    def _bind_job(self, lien: Lien) -> None:
        """Index the lien by (cluster, job id), refusing a second lien for one job as SQL's unique key does
        (an entry whose lien has since dropped the job id is stale, and readers skip it too)."""
        key = (lien.cluster, lien.job_id or "")
        holder = self._by_job.get(key)
        if holder is not None and holder != lien.id and self._liens[holder].job_id == lien.job_id:
            raise DuplicateKey(f"job {lien.job_id} on {lien.cluster} already has lien {holder}")
        self._by_job[key] = lien.id

    def close_lien(self, lien_id: str, state: LienState, at: datetime, charge: ChargeSpec | None = None) -> Lien:
        """``update_lien(lien.with_state(state, ended_at=at))``, then, given ``charge`` = (id, amounts,
        source, key), ``add_charge`` of those amounts on the lien's path, job, cluster and partition,
        dated ``at``. Returns the lien as it was.

        The balances change at once; the records (a 23-field lien, a charge, their index entries) are
        written when records are first read, or before a write they must precede. A trace replay closes
        and charges a lien per job and reads none back: building them was a sixth of its time.
        """
        if state in OPEN_STATES:
            raise ValueError(f"close_lien needs a closed state, not {state}")
        if lien_id in self._closing:
            self._write_closed()
        lien = self._liens[lien_id]
        scopes = self._hold(lien, -1) if lien.state in OPEN_STATES else self._scopes(lien)
        if charge is not None:
            amounts = charge[1]
            entry = (amounts.cpu_hours, amounts.gpu_hours, amounts.cost)
            for timeline in scopes.timelines:
                timeline.add(at, entry)
        self._closing[lien_id] = (lien, state, at, charge)
        return lien

    def get_lien(self, lien_id: str, *, lock: bool = False) -> Lien | None:
        if lien_id in self._closing:
            self._write_closed()
        return self._liens.get(lien_id)

    def find_liens_by_job(self, job_id: str, cluster: str | None = None) -> list[Lien]:
        self._write_closed()
        clusters = [cluster] if cluster is not None else sorted({c for c, j in self._by_job if j == job_id})
        found = (self._liens.get(self._by_job.get((c, job_id), "")) for c in clusters)
        return [lien for lien in found if lien is not None and lien.job_id == job_id]

    def add_charge(self, charge: Charge) -> None:
        self._write_closed()
        self._record_charge(charge)
        amounts = charge.amounts
        entry = (amounts.cpu_hours, amounts.gpu_hours, amounts.cost)
        for timeline in self._scopes(charge).timelines:
            timeline.add(charge.at, entry)

    def find_charge(self, key: str) -> Charge | None:
        self._write_closed()
        charge_id = self._charges_by_key.get(key)
        return self._charges.get(charge_id) if charge_id else None

    def charges_for_lien(self, lien_id: str) -> list[Charge]:
        self._write_closed()
        return [self._charges[c] for c in self._charges_by_lien.get(lien_id, [])]

    def add_adjustment(self, adjustment: Adjustment) -> None:
        self.adjustments[adjustment.id] = adjustment
        if adjustment.key:
            self._adjustments_by_key[adjustment.key] = adjustment.id
        sign, a = ADJUSTMENT_SIGN[adjustment.kind], adjustment.amounts
        timeline = self._settled.setdefault(adjustment.scope, _Timeline())
        timeline.add(adjustment.at, (sign * a.cpu_hours, sign * a.gpu_hours, sign * a.cost))

    def find_adjustment(self, key: str) -> Adjustment | None:
        adjustment_id = self._adjustments_by_key.get(key)
        return self.adjustments.get(adjustment_id) if adjustment_id else None

    def add_decision(self, record: DecisionRecord) -> None:
        self.decisions[record.id] = record
        if record.key:
            self._decisions_by_key[record.key] = record.id

    def get_decision(self, decision_id: str) -> DecisionRecord | None:
        return self.decisions.get(decision_id)

    def find_decision(self, key: str) -> DecisionRecord | None:
        decision_id = self._decisions_by_key.get(key)
        return self.decisions.get(decision_id) if decision_id else None

    def expire_liens(self, now: datetime) -> int:
        return self._expire_due(now)

    def open_liens(self, scope: str | None = None) -> Iterator[Lien]:
        for lien in self.liens.values():
            if lien.state in OPEN_STATES and (scope is None or scope in lien_scopes(lien)):
                yield lien

    def _write_closed(self) -> None:
        """Write the records of the liens :meth:`close_lien` closed, in the order they were closed."""
        if not self._closing:
            return
        closing, self._closing = self._closing, {}
        for lien_id, (lien, state, at, charge) in closing.items():
            self._liens[lien_id] = lien.with_state(state, ended_at=at)
            if charge is not None:
                charge_id, amounts, source, key = charge
                path = (lien.user_id, lien.project, lien.team, lien.org, lien.cluster, lien.partition)
                self._record_charge(Charge(charge_id, lien_id, lien.job_id, *path, amounts, at, source, key))

    def _record_charge(self, charge: Charge) -> None:
        self._charges[charge.id] = charge
        if charge.key:
            self._charges_by_key[charge.key] = charge.id
        if charge.lien_id:
            self._charges_by_lien.setdefault(charge.lien_id, []).append(charge.id)

    def _scopes(self, entry: OnPath) -> _Scopes:
        """The balance records of ``entry``'s account path (created empty on first use)."""
        key = (entry.user_id, entry.project, entry.team, entry.org)
        found = self._paths.get(key)
        if found is None:
            names = lien_scopes(entry)
            held = tuple(self._held.setdefault(name, _Held()) for name in names)
            timelines = tuple(self._settled.setdefault(name, _Timeline()) for name in names)
            found = self._paths[key] = _Scopes(held, timelines)
        return found

    def _hold(self, lien: Lien, sign: int) -> _Scopes:
        """Count an opened lien on its scopes (+1), or stop counting a closed one (-1) where it was counted."""
        amounts, gpus = lien.amounts, lien.gpus
        cpu, gpu, cost = amounts.cpu_hours, amounts.gpu_hours, amounts.cost
        if sign > 0:
            scopes = self._holding[lien.id] = self._scopes(lien)
            for held in scopes.held:
                held.cpu += cpu
                held.gpu += gpu
                held.cost += cost
                held.jobs += 1
                held.gpus += gpus
        else:
            scopes = self._holding.pop(lien.id)
            for held in scopes.held:
                held.cpu -= cpu
                held.gpu -= gpu
                held.cost -= cost
                held.jobs -= 1
                held.gpus -= gpus
        return scopes

    def _expire_due(self, now: datetime) -> int:
        expiry = self._expiry
        expired = 0
        while expiry and expiry[0][0] <= now:
            _, lien_id = heapq.heappop(expiry)
            if lien_id in self._closing:  # closed by close_lien (its record not written yet): nothing to expire
                continue
            lien = self._liens[lien_id]
            if lien.state == _RESERVED and not lien_counts(lien.state, lien.expires_at, now):
                self.update_lien(lien.with_state(_EXPIRED))
                expired += 1
        return expired
