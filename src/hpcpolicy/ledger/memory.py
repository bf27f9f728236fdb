"""The in-memory ledger: the same contract and rules as the SQL ledger, at simulator speed.

Balances are kept incrementally so a query costs O(log n), not a scan: per scope, a timeline of settled
usage (charges and signed adjustments) with prefix sums, answering "sum dated in [start, end)" by
bisection; and running totals of open liens, from which liens past their TTL are removed lazily through
an expiry heap. Lazy expiry assumes time moves forward, as it does in the service and the simulator.

Not thread-safe and not durable: for tests, the simulator and single-threaded tools.
"""

from __future__ import annotations

import heapq
from bisect import bisect_left
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime

from hpcpolicy.engine import Active, Amounts
from hpcpolicy.engine.usage import IDLE, ZERO
from hpcpolicy.ledger.model import Adjustment, Charge, DecisionRecord, Lien, LienState
from hpcpolicy.ledger.rules import ADJUSTMENT_SIGN, OPEN_STATES, lien_counts, lien_scopes


@dataclass(slots=True)
class _Timeline:
    """Dated amounts in time order with prefix sums: ``cum[i]`` is the sum of the first i entries."""

    times: list[datetime] = field(default_factory=list)
    amounts: list[Amounts] = field(default_factory=list)
    cum: list[Amounts] = field(default_factory=lambda: [ZERO])

    def add(self, at: datetime, amounts: Amounts) -> None:
        i = len(self.times)
        if i and at < self.times[-1]:  # out of order: insert and rebuild the sums after it (rare)
            i = bisect_left(self.times, at)
        self.times.insert(i, at)
        self.amounts.insert(i, amounts)
        del self.cum[i + 1 :]
        for a in self.amounts[i:]:
            self.cum.append(self.cum[-1] + a)

    def between(self, start: datetime, end: datetime) -> Amounts:
        return self.cum[bisect_left(self.times, end)] - self.cum[bisect_left(self.times, start)]


class MemoryLedger:
    def __init__(self) -> None:
        self.liens: dict[str, Lien] = {}
        self._by_job: dict[str, str] = {}
        self._held: dict[str, tuple[Amounts, Active]] = {}
        self._expiry: list[tuple[datetime, str]] = []
        self._settled: dict[str, _Timeline] = {}
        self.charges: dict[str, Charge] = {}
        self._charges_by_key: dict[str, str] = {}
        self._charges_by_lien: dict[str, list[str]] = {}
        self.adjustments: dict[str, Adjustment] = {}
        self._adjustments_by_key: dict[str, str] = {}
        self.decisions: dict[str, DecisionRecord] = {}
        self._decisions_by_key: dict[str, str] = {}

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
        return timeline.between(start, end) if timeline is not None else ZERO

    def reserved(self, scope: str, now: datetime) -> tuple[Amounts, Active]:
        self._expire_due(now)
        return self._held.get(scope, (ZERO, IDLE))

    def add_lien(self, lien: Lien) -> None:
        if lien.id in self.liens:
            raise ValueError(f"lien {lien.id} exists")
        self.liens[lien.id] = lien
        if lien.job_id:
            self._by_job[lien.job_id] = lien.id
        if lien.state in OPEN_STATES:
            self._hold(lien, +1)
            if lien.state == LienState.RESERVED:
                heapq.heappush(self._expiry, (lien.expires_at, lien.id))

    def update_lien(self, lien: Lien) -> None:
        old = self.liens[lien.id]
        was_open, now_open = old.state in OPEN_STATES, lien.state in OPEN_STATES
        if was_open and not now_open:
            self._hold(old, -1)
        elif now_open and not was_open:
            self._hold(lien, +1)
        self.liens[lien.id] = lien
        if lien.job_id:
            self._by_job[lien.job_id] = lien.id

    def get_lien(self, lien_id: str) -> Lien | None:
        return self.liens.get(lien_id)

    def find_lien_by_job(self, job_id: str) -> Lien | None:
        lien_id = self._by_job.get(job_id)
        return self.liens.get(lien_id) if lien_id else None

    def add_charge(self, charge: Charge) -> None:
        self.charges[charge.id] = charge
        if charge.key:
            self._charges_by_key[charge.key] = charge.id
        if charge.lien_id:
            self._charges_by_lien.setdefault(charge.lien_id, []).append(charge.id)
        for scope in lien_scopes(charge):
            self._settled.setdefault(scope, _Timeline()).add(charge.at, charge.amounts)

    def find_charge(self, key: str) -> Charge | None:
        charge_id = self._charges_by_key.get(key)
        return self.charges.get(charge_id) if charge_id else None

    def charges_for_lien(self, lien_id: str) -> list[Charge]:
        return [self.charges[c] for c in self._charges_by_lien.get(lien_id, [])]

    def add_adjustment(self, adjustment: Adjustment) -> None:
        self.adjustments[adjustment.id] = adjustment
        if adjustment.key:
            self._adjustments_by_key[adjustment.key] = adjustment.id
        sign = ADJUSTMENT_SIGN[adjustment.kind]
        a = adjustment.amounts
        signed = Amounts(sign * a.cpu_hours, sign * a.gpu_hours, sign * a.cost)
        self._settled.setdefault(adjustment.scope, _Timeline()).add(adjustment.at, signed)

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

    # internals
    def _hold(self, lien: Lien, sign: int) -> None:
        for scope in lien_scopes(lien):
            amounts, active = self._held.get(scope, (ZERO, IDLE))
            if sign > 0:
                self._held[scope] = (amounts + lien.amounts, Active(active.jobs + 1, active.gpus + lien.gpus))
            else:
                self._held[scope] = (amounts - lien.amounts, Active(active.jobs - 1, active.gpus - lien.gpus))

    def _expire_due(self, now: datetime) -> int:
        expired = 0
        while self._expiry and self._expiry[0][0] <= now:
            _, lien_id = heapq.heappop(self._expiry)
            lien = self.liens[lien_id]
            if lien.state == LienState.RESERVED and not lien_counts(lien.state, lien.expires_at, now):
                self.update_lien(replace(lien, state=LienState.EXPIRED))
                expired += 1
        return expired
