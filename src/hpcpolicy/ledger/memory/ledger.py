"""The in-memory ledger: the same contract and rules as the SQL ledger, at simulator speed.

Balances are kept incrementally so a query costs O(log n), not a scan (:mod:`.counting`): per counter,
a timeline of charges with prefix sums, answering "sum dated in [start, end)" by bisection, adjustments
per target likewise, and running totals of open liens, from which liens past their TTL are removed
lazily (time moves forward, in the service and the simulator). Totals are plain floats, added in the same order as
``Amounts`` arithmetic would, so every sum is bit for bit the same; :meth:`MemoryLedger.usage` is
:func:`hpcpolicy.ledger.rules.snapshot` over this ledger (a test checks they agree exactly).

Not thread-safe and not durable: for tests, the simulator and single-threaded tools.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import date, datetime, timedelta

from hpcpolicy.engine import Active, Amounts, QuotaRef, UsageSnapshot
from hpcpolicy.engine.rules.quotas import Used
from hpcpolicy.engine.slices import Slice
from hpcpolicy.engine.usage import IDLE, ZERO
from hpcpolicy.ledger.base import DuplicateKey
from hpcpolicy.ledger.counters import Counter, Target, counter, counts_toward, entry_scopes, scope_columns
from hpcpolicy.ledger.events import Event
from hpcpolicy.ledger.memory.alerts import MemoryAlerts
from hpcpolicy.ledger.memory.counting import Counting, Resolved
from hpcpolicy.ledger.memory.queue import MemoryQueue
from hpcpolicy.ledger.memory.records import Timeline, settled_between
from hpcpolicy.ledger.model import Adjustment, Charge, DecisionFilter, DecisionRecord, Lien, LienState
from hpcpolicy.ledger.reports import PeriodSums, group
from hpcpolicy.ledger.rules import ADJUSTMENT_SIGN, OPEN_STATES, lien_counts

__all__ = ["ChargeSpec", "MemoryLedger", "Resolved"]

_RESERVED, _EXPIRED = LienState.RESERVED, LienState.EXPIRED
#: What close_lien charges: (charge id, amounts, source, key, raw CPU- and GPU-hours or None).
ChargeSpec = tuple[str, Amounts, str, str | None, tuple[float, float] | None]


class MemoryLedger(MemoryQueue, MemoryAlerts):
    def __init__(self) -> None:
        MemoryQueue.__init__(self)
        MemoryAlerts.__init__(self)
        self._liens: dict[str, Lien] = {}
        self._by_job: dict[tuple[str, str], str] = {}  # (cluster, job id) -> lien id
        self._counting = Counting()
        self._expiry: list[tuple[datetime, str]] = []  # heap of reserved liens (expires_at, id), to expire lazily
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

    def reading(self) -> AbstractContextManager[MemoryLedger]:
        return self.session()

    def ping(self) -> None:
        return None

    def after_commit(self, callback: Callable[[], None]) -> None:
        callback()  # every session commits as it ends

    def events(
        self, after: int, limit: int, types: tuple[str, ...] = (), scope: str | None = None, user: str | None = None
    ) -> list[Event]:
        return []  # the in-memory ledger keeps no audit log (a replay is not an audit subject)

    def period_sums(self, start: datetime, end: datetime, project: str | None = None) -> PeriodSums:
        return group(self.charges.values(), self.adjustments.values(), start, end, project)

    # LedgerSession
    def lock(self, scopes: Sequence[str]) -> None:
        return None  # one thread: nothing can interleave

    def settled(self, target: Target, start: datetime, end: datetime) -> Amounts:
        found = self._counter(target)
        counting = self._counting
        adjustments = (counting.adjusted.get(scope) for scope in found.adjusted)
        return Amounts(*settled_between(counting.entries.get(found.key), adjustments, start, end))

    def reserved(self, target: Target, now: datetime) -> tuple[Amounts, Active]:
        found = self._counter(target)
        self._expire_due(now)
        held = self._counting.held.get(found.key)
        if held is None:
            return ZERO, IDLE
        return Amounts(held.cpu, held.gpu, held.cost), Active(held.jobs, held.gpus)

    def usage(self, quotas: Iterable[QuotaRef], now: datetime) -> UsageSnapshot:
        """``rules.snapshot(quotas, now, self.settled, lambda ref: self.reserved(ref, now))``, faster."""
        return self.usage_of(self.resolve(quotas), now)

    def usage_of(self, resolved: Resolved, now: datetime) -> UsageSnapshot:
        """:meth:`usage` of quotas already resolved (a caller deciding again and again resolves once)."""
        used, _ = self.balances(resolved, now)
        previous = self.previous(resolved, now)
        return UsageSnapshot(
            {ref.id: Amounts(*consumed) for (ref, *_), consumed in zip(resolved, used, strict=True)},
            {ref.counter: Active(held.jobs, held.gpus) for ref, held, *_ in resolved},
            previous,
        )

    def previous(self, quotas: Resolved, now: datetime) -> dict[str, Amounts]:
        """What each quota with carry-over settled in its previous window (``UsageSnapshot.previous``)."""
        return self._counting.previous(quotas, now)

    def resolve(self, quotas: Iterable[QuotaRef]) -> Resolved:
        """``quotas`` with their counters' balance records (new ones empty: zero, as missing ones), for
        :meth:`balances`; valid for this ledger's life, so a caller asking again and again resolves once."""
        quotas = tuple(quotas)
        for ref in quotas:
            self._counter(ref)
        return self._counting.resolve(quotas)

    def balances(self, quotas: Resolved, now: datetime) -> tuple[list[Used], list[Active]]:
        """:meth:`Counting.balances` after expiring the reservations due by ``now``."""
        expiry = self._expiry
        if expiry and expiry[0][0] <= now:
            self._expire_due(now)
        return self._counting.balances(quotas, now)

    def _counter(self, target: Target) -> Counter:
        """The target resolved, its counter registered (and filled) if it is a derived one."""
        found = counter(target)
        if found.key not in self._counting.held:  # filled from open liens and timelines: no records needed
            self._counting.register(found, self._liens)
        return found

    def add_lien(self, lien: Lien) -> None:
        if lien.id in self._liens:
            raise ValueError(f"lien {lien.id} exists")
        if lien.job_id:
            self._bind_job(lien)
        self._liens[lien.id] = lien
        state = lien.state
        if state in OPEN_STATES:
            self._counting.hold(lien, +1)
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
        moved = was_open and now_open and (old.user_id, old.project, old.team, old.org, old.amounts, old.gpus,
                                           old.cluster, old.partition, old.gpu_type) != (
            lien.user_id, lien.project, lien.team, lien.org, lien.amounts, lien.gpus,
            lien.cluster, lien.partition, lien.gpu_type)  # fmt: skip
        if was_open and (not now_open or moved):
            self._counting.hold(old, -1)
        if now_open and (not was_open or moved):
            self._counting.hold(lien, +1)
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
        source, key, raw hours), ``add_charge`` of those amounts on the lien's path, job, cluster and partition,
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
        scopes = self._counting.hold(lien, -1) if lien.state in OPEN_STATES else self._counting.scopes(lien)
        if charge is not None:
            amounts = charge[1]
            entry = (amounts.cpu_hours, amounts.gpu_hours, amounts.cost)
            who = (lien.user_id, lien.cluster, lien.partition, lien.gpu_type)
            for timeline in scopes.timelines:
                timeline.add(at, entry, who)
            if lien.project is not None:
                self._counting.charged.add((lien.project, lien.user_id))
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
        who = (charge.user_id, charge.cluster, charge.partition, charge.gpu_type)
        for timeline in self._counting.scopes(charge).timelines:
            timeline.add(charge.at, entry, who)
        if charge.project is not None:
            self._counting.charged.add((charge.project, charge.user_id))

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
        self._counting.adjusting = True
        timeline = self._counting.adjusted.setdefault(adjustment.scope, Timeline())
        timeline.add(adjustment.at, (sign * a.cpu_hours, sign * a.gpu_hours, sign * a.cost))

    def find_adjustment(self, key: str) -> Adjustment | None:
        adjustment_id = self._adjustments_by_key.get(key)
        return self.adjustments.get(adjustment_id) if adjustment_id else None

    def writes(self, *, last: bool = False) -> AbstractContextManager[None]:
        return nullcontext()

    def add_decision(self, record: DecisionRecord) -> None:
        self.decisions[record.id] = record
        if record.key:
            self._decisions_by_key[record.key] = record.id

    def get_decision(self, decision_id: str) -> DecisionRecord | None:
        return self.decisions.get(decision_id)

    def find_decision(self, key: str) -> DecisionRecord | None:
        decision_id = self._decisions_by_key.get(key)
        return self.decisions.get(decision_id) if decision_id else None

    def recent_decisions(self, where: DecisionFilter, limit: int) -> list[DecisionRecord]:
        found = (record for record in self.decisions.values() if where.admits(record))
        return heapq.nlargest(limit, found, key=lambda record: (record.at, record.id))

    def expire_liens(self, now: datetime) -> int:
        return self._expire_due(now)

    def usage_since(self, since: datetime) -> Iterator[tuple[str | None, str, datetime, Amounts]]:
        for charge in self.charges.values():
            if charge.at >= since:
                yield charge.project, charge.user_id, charge.at, charge.amounts

    def charge_totals(
        self,
        columns: tuple[str, ...],
        start: datetime,
        end: datetime,
        *,
        daily: bool = False,
        where: tuple[tuple[str, str], ...] = (),
    ) -> list[tuple[tuple[str | None, ...], date | None, Amounts]]:
        summed: dict[tuple[tuple[str | None, ...], date | None], Amounts] = {}
        for charge in self.charges.values():
            if start <= charge.at < end and all(getattr(charge, column) == value for column, value in where):
                key = (tuple(getattr(charge, column) for column in columns), charge.at.date() if daily else None)
                summed[key] = summed.get(key, ZERO) + charge.amounts
        return [(values, day, amounts) for (values, day), amounts in summed.items()]

    def scope_totals(
        self, scopes: Collection[str], start: datetime, end: datetime, sliced: Slice | None = None
    ) -> dict[str, Amounts]:
        summed: dict[str, Amounts] = {}
        for charge in self.charges.values():
            if start <= charge.at < end and counts_toward(charge, sliced):
                for scope in entry_scopes(charge):
                    if scope in scopes:
                        summed[scope] = summed.get(scope, ZERO) + charge.amounts
        return summed

    def scope_daily(
        self, scopes: Collection[str], first_day: datetime, days: int, sliced: Slice | None = None
    ) -> dict[str, list[Amounts]]:
        out: dict[str, list[Amounts]] = {}
        for k in range(days):
            start = first_day + timedelta(days=k)
            for scope, amounts in self.scope_totals(scopes, start, start + timedelta(days=1), sliced).items():
                out.setdefault(scope, [ZERO] * days)[k] = amounts
        return out

    def adjustment_totals(
        self, start: datetime, end: datetime, *, daily: bool = False, scopes: tuple[str, ...] | None = None
    ) -> list[tuple[str, date | None, Amounts]]:
        summed: dict[tuple[str, date | None], Amounts] = {}
        for a in self.adjustments.values():
            if start <= a.at < end and (scopes is None or a.scope in scopes):
                sign = ADJUSTMENT_SIGN[a.kind]
                signed = Amounts(sign * a.amounts.cpu_hours, sign * a.amounts.gpu_hours, sign * a.amounts.cost)
                key = (a.scope, a.at.date() if daily else None)
                summed[key] = summed.get(key, ZERO) + signed
        return [(scope, day, amounts) for (scope, day), amounts in summed.items()]

    def freed_since(self, since: datetime, now: datetime) -> list[Lien]:
        return [lien for lien in self.liens.values()
                if (lien.closed_at is not None and since <= lien.closed_at < now)
                or (lien.started_at is None and since <= lien.expires_at < now)]  # fmt: skip

    def open_liens(self, scope: str | None = None) -> Iterator[Lien]:
        for lien in self.liens.values():
            if lien.state in OPEN_STATES and (
                scope is None or all(getattr(lien, column) == value for column, value in scope_columns(scope))
            ):
                yield lien

    def _write_closed(self) -> None:
        """Write the records of the liens :meth:`close_lien` closed, in the order they were closed."""
        if not self._closing:
            return
        closing, self._closing = self._closing, {}
        for lien_id, (lien, state, at, charge) in closing.items():
            self._liens[lien_id] = lien.with_state(state, ended_at=at)
            if charge is not None:
                charge_id, amounts, source, key, raw = charge
                path = (lien.user_id, lien.project, lien.team, lien.org, lien.cluster, lien.partition)
                self._record_charge(
                    Charge(charge_id, lien_id, lien.job_id, *path, amounts, at, source, key, lien.gpu_type, raw)
                )

    def _record_charge(self, charge: Charge) -> None:
        self._charges[charge.id] = charge
        if charge.key:
            self._charges_by_key[charge.key] = charge.id
        if charge.lien_id:
            self._charges_by_lien.setdefault(charge.lien_id, []).append(charge.id)

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
