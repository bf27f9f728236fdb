"""The ledger contract: what the service layer may ask of any ledger implementation.

A :class:`Ledger` hands out sessions; one session is one transaction (commit on normal exit, roll back
on an exception), so a decision and its lien are written together or not at all. ``lock`` serialises
admissions that share a scope for the rest of the transaction: two concurrent requests can never both
read the same balance and both spend it.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from datetime import date, datetime
from typing import Protocol

from hpcpolicy.engine import Active, Amounts, QuotaRef, UsageSnapshot
from hpcpolicy.engine.slices import Slice
from hpcpolicy.ledger.alerts import AlertDelivery, AlertRecord, FiredAlert
from hpcpolicy.ledger.counters import Target
from hpcpolicy.ledger.events import Event
from hpcpolicy.ledger.model import Adjustment, Charge, DecisionFilter, DecisionRecord, Lien
from hpcpolicy.ledger.queue import QueuedRequest
from hpcpolicy.ledger.reports import PeriodSums


class LedgerUnavailable(RuntimeError):
    """The ledger's storage cannot be reached or failed: the service fails closed (503)."""


class DuplicateKey(ValueError):
    """An idempotency key, or a job id on its cluster, is already recorded (a concurrent retry won the race,
    or another lien holds the job). Every ledger raises it on the write that would make the duplicate."""


class Contention(LedgerUnavailable):
    """A deadlock or serialization failure: the transaction was rolled back and can be run again.

    The service layer retries it a few times (:func:`hpcpolicy.service.retry.retrying`); only if it keeps
    happening does the caller see a 503.
    """


class LedgerSession(Protocol):
    def lock(self, scopes: Sequence[str]) -> None: ...

    def settled(self, target: Target, start: datetime, end: datetime) -> Amounts:
        """Charges plus signed adjustments of ``target`` (a scope, or what a quota counts: its scope's
        entries in its slice, and adjustments on its scope or id; :mod:`.counters`) in ``[start, end)``."""
        ...

    def reserved(self, target: Target, now: datetime) -> tuple[Amounts, Active]:
        """Open liens of ``target`` at ``now``: their amounts, their count and GPUs."""
        ...

    def usage(self, quotas: Iterable[QuotaRef], now: datetime) -> UsageSnapshot:
        """The engine's usage snapshot of ``quotas`` at ``now``: ``rules.snapshot`` over :meth:`settled`
        and :meth:`reserved`, read at once (the decision's hot path)."""
        ...

    def add_lien(self, lien: Lien) -> None: ...

    def update_lien(self, lien: Lien) -> None: ...

    def get_lien(self, lien_id: str, *, lock: bool = False) -> Lien | None:
        """The lien; with ``lock``, its row stays locked until the transaction ends, so two state changes
        of one job (a user's cancel and the scheduler's start) cannot both read the old state and write."""
        ...

    def find_liens_by_job(self, job_id: str, cluster: str | None = None) -> list[Lien]:
        """Liens bound to the scheduler's ``job_id``: on ``cluster``, or on any cluster when None (job ids
        are unique per cluster only, so that may be several)."""
        ...

    def add_charge(self, charge: Charge) -> None: ...

    def find_charge(self, key: str) -> Charge | None: ...

    def charges_for_lien(self, lien_id: str) -> list[Charge]: ...

    def add_adjustment(self, adjustment: Adjustment) -> None: ...

    def find_adjustment(self, key: str) -> Adjustment | None: ...

    def add_decision(self, record: DecisionRecord) -> None: ...

    def writes(self, *, last: bool = False) -> AbstractContextManager[None]:
        """A block of writes (and the events they record) that may go to the database together: nothing
        written in it is read back before it ends. ``last``: the session does nothing after them (its
        commit may go with them)."""
        ...

    def get_decision(self, decision_id: str) -> DecisionRecord | None: ...

    def find_decision(self, key: str) -> DecisionRecord | None: ...

    def recent_decisions(self, where: DecisionFilter, limit: int) -> list[DecisionRecord]:
        """Decision records matching ``where``, newest first (by time, then id, both descending), at most
        ``limit``: the dashboard's decision explorer pages through them."""
        ...

    def expire_liens(self, now: datetime) -> int:
        """Mark reserved liens past their TTL as expired (they already stopped counting); return how many."""
        ...

    def open_liens(self, scope: str | None = None) -> Iterator[Lien]: ...

    # The admission queue (:mod:`hpcpolicy.ledger.queue`)
    def add_queued(self, entry: QueuedRequest) -> QueuedRequest:
        """Store a held request; the entry with its ``seq``. DuplicateKey on a used id or key."""
        ...

    def get_queued(self, entry_id: str, *, lock: bool = False) -> QueuedRequest | None: ...

    def find_queued(self, key: str) -> QueuedRequest | None: ...

    def update_queued(self, entry: QueuedRequest, actor: str | None = None) -> bool:
        """Write a held request's new state, only if it is still held (False: someone resolved it first)."""
        ...

    def queued(
        self, after: int = 0, limit: int = 10_000, user: str | None = None, group: str | None = None
    ) -> list[QueuedRequest]: ...

    def freed_since(self, since: datetime, now: datetime) -> list[Lien]:
        """Liens that stopped counting in ``[since, now)``: closed then (``closed_at``: finished, cancelled,
        failed, released by a sync) or run out unstarted. The admission queue's dispatcher reads which slots
        other replicas and processes freed."""
        ...

    def waited_for(self, quota_ids: list[str]) -> list[str]:
        """Those of ``quota_ids`` a held request waits for a slot of (a new request queues behind it)."""
        ...

    def queued_count(self, user: str) -> int:
        """How many requests of ``user`` are held now."""
        ...

    def callbacks_due(self, now: datetime, limit: int = 100) -> list[QueuedRequest]: ...

    def set_callback(self, entry_id: str, due: datetime | None, attempts: int) -> None: ...

    def usage_since(self, since: datetime) -> Iterator[tuple[str | None, str, datetime, Amounts]]:
        """(project, user, time, amounts) of every charge dated at or after ``since``: fair-share usage."""
        ...

    # Alerts (:mod:`hpcpolicy.ledger.alerts`)
    def add_alert(self, alert: AlertRecord, deliveries: Sequence[AlertDelivery]) -> None:
        """Store a fired alert with its deliveries (and its audit event); DuplicateKey if its key fired."""
        ...

    def fired_keys(self, keys: Collection[str]) -> set[str]: ...

    def fired_alerts(self, scopes: Collection[str] | None = None, limit: int = 100) -> list[FiredAlert]: ...

    def deliveries_due(self, now: datetime, limit: int = 100) -> list[tuple[AlertDelivery, AlertRecord]]: ...

    def set_delivery(self, delivery: AlertDelivery) -> None: ...

    def denials(self, since: datetime, limit: int = 100_000) -> list[tuple[datetime, tuple[str, ...]]]:
        """Denied decisions at or after ``since``: when, and their account path's scopes."""
        ...

    def running_liens(self, started_before: datetime) -> list[Lien]: ...

    def charge_totals(
        self,
        columns: tuple[str, ...],
        start: datetime,
        end: datetime,
        *,
        daily: bool = False,
        where: tuple[tuple[str, str], ...] = (),
    ) -> list[tuple[tuple[str | None, ...], date | None, Amounts]]:
        """Charges dated in ``[start, end)`` whose ``where`` columns equal the values given, summed per
        distinct value of ``columns`` (charge path columns: user_id, project, team, org, cluster, partition,
        gpu_type) and, with ``daily``, per UTC day (else the day is None): every quota's consumption in a
        few queries (:mod:`hpcpolicy.service.standings`)."""
        ...

    def scope_totals(
        self, scopes: Collection[str], start: datetime, end: datetime, sliced: Slice | None = None
    ) -> dict[str, Amounts]:
        """Charges dated in ``[start, end)`` inside ``sliced`` (everywhere: None), summed per scope of ``scopes``
        that they draw on (:func:`~hpcpolicy.ledger.counters.entry_scopes`); a scope with none is left out.
        Every quota's consumption at once (:mod:`hpcpolicy.service.standings`)."""
        ...

    def scope_daily(
        self, scopes: Collection[str], first_day: datetime, days: int, sliced: Slice | None = None
    ) -> dict[str, list[Amounts]]:
        """:meth:`scope_totals` per UTC day of the ``days`` days from midnight ``first_day``, oldest first."""
        ...

    def adjustment_totals(
        self, start: datetime, end: datetime, *, daily: bool = False, scopes: tuple[str, ...] | None = None
    ) -> list[tuple[str, date | None, Amounts]]:
        """Adjustments dated in ``[start, end)`` (on ``scopes`` only, when given) per scope or quota id and,
        with ``daily``, per UTC day, signed as consumption (a grant is negative)."""
        ...


class Ledger(Protocol):
    def session(self) -> AbstractContextManager[LedgerSession]: ...

    def reading(self) -> AbstractContextManager[LedgerSession]:
        """A session for reads only, over one snapshot, that no admission waits for (nothing may be written)."""
        ...

    def ping(self) -> None:
        """Raise :class:`LedgerUnavailable` unless the storage answers."""
        ...

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Call ``callback()`` once what this thread has written is committed: at once, unless its writes
        share a commit still to come (SQLite's group commit), and never if that commit fails."""
        ...

    def events(
        self, after: int, limit: int, types: tuple[str, ...] = (), scope: str | None = None, user: str | None = None
    ) -> list[Event]:
        """Sealed audit events with ``seq`` > ``after``, oldest first, at most ``limit``, of ``types`` (all when
        empty), concerning ``scope`` when given, and concerning or caused by ``user`` when given
        (:mod:`hpcpolicy.ledger.events`)."""
        ...

    def period_sums(self, start: datetime, end: datetime, project: str | None = None) -> PeriodSums:
        """Charges and adjustments dated in ``[start, end)`` summed per group (:mod:`.reports`), of
        ``project`` only when given, read from one consistent snapshot outside any admission's transaction."""
        ...
