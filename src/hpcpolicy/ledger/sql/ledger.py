"""The SQL ledger: one connection-level transaction per session, scope locks, indexed aggregates.

Locking, per backend (see docs/design/ledger-concurrency.md):
- SQLite: every session starts with ``BEGIN IMMEDIATE``, taking the database write lock up front, so
  check-and-reserve is serialised across threads and processes; WAL keeps readers going.
- PostgreSQL, MariaDB/MySQL: ``lock(scopes)`` makes sure a row per scope exists and locks those rows
  ``FOR UPDATE`` in sorted order (no deadlocks between admissions); reads that follow run at READ
  COMMITTED and so see every admission committed before the lock was granted.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, Engine, Table, insert, select
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from hpcpolicy.engine import Active, Amounts, QuotaRef, UsageSnapshot
from hpcpolicy.ledger import deadline
from hpcpolicy.ledger.base import DuplicateKey, LedgerUnavailable
from hpcpolicy.ledger.checkpoints import CheckpointPolicy
from hpcpolicy.ledger.counters import Target, entry_scopes
from hpcpolicy.ledger.events import Event, adjustment_event, charge_event, decision_event, lien_event
from hpcpolicy.ledger.model import Adjustment, AdjustmentKind, Charge, DecisionFilter, DecisionRecord, Lien
from hpcpolicy.ledger.reports import PeriodSums
from hpcpolicy.ledger.rules import UsageReads, usage_snapshot
from hpcpolicy.ledger.sql import buckets, held, totals
from hpcpolicy.ledger.sql.alert_rows import AlertRows
from hpcpolicy.ledger.sql.chain import chained
from hpcpolicy.ledger.sql.connect import read_only
from hpcpolicy.ledger.sql.driver import execute_many, fetch, one_statement, pipelined
from hpcpolicy.ledger.sql.group import Group
from hpcpolicy.ledger.sql.lien_rows import LienRows
from hpcpolicy.ledger.sql.queue_rows import QueueRows
from hpcpolicy.ledger.sql.reports import read_period
from hpcpolicy.ledger.sql.rows import (
    DECISION_BY_KEY,
    INSERT_CHARGE,
    UPDATE_LIEN,
    charge_from_row,
    decision_from_row,
    decision_row,
    decisions_statement,
    driver_insert,
    driver_values,
    event_row,
    from_db,
    insert_event_sql,
    lien_row,
    lock_scopes,
    to_db,
)
from hpcpolicy.ledger.sql.tables import adjustments, charges, decisions, liens, scope_locks
from hpcpolicy.ledger.sql.totals import GroupedReads
from hpcpolicy.ledger.sql.transactions import Transactions, ledger_error
from hpcpolicy.ledger.sql.usage_read import read_usage
from hpcpolicy.observability.logs import request_id

__all__ = ["DuplicateKey", "SqlLedger", "SqlSession", "from_db", "to_db"]


class SqlLedger:
    def __init__(self, engine: Engine, *, audit: bool = False, seal_on_write: bool | None = None):
        """``audit``: record an event with every change, in its transaction (:mod:`hpcpolicy.ledger.events`);
        ``seal_on_write``: that transaction also seals them (:mod:`~.chain`; default: on SQLite only, whose
        writers are serialised anyway; elsewhere the sealer does it after commit)."""
        self.engine = engine
        self.audit = audit
        self.seal_on_write = engine.dialect.name == "sqlite" if seal_on_write is None else seal_on_write
        if self.seal_on_write and engine.dialect.name != "sqlite":
            raise ValueError("sealing on write needs a database that serialises writers (SQLite)")
        #: When the sealer signs checkpoints; None: never.
        self.checkpoints: CheckpointPolicy | None = None
        self.transactions = Transactions(engine)

    @property
    def group(self) -> Group | None:
        """The group transaction open on the event loop's thread (SQLite), until :meth:`commit_group`."""
        return self.transactions.group

    def commit_group(self) -> None:
        """Commit the group transaction open on this thread, if any (its caller answers its members then)."""
        self.transactions.commit_group()

    def after_commit(self, callback: Callable[[], None]) -> None:
        """``callback()`` once what this thread wrote is committed (at once, or when its group commits)."""
        self.transactions.after_commit(callback)

    @contextmanager
    def session(self) -> Iterator[SqlSession]:
        try:
            with self.transactions.open() as conn:
                deadline.check()
                session = SqlSession(conn, audit=self.audit, seal=self.seal_on_write)
                yield session
                session.flush_events()
                deadline.check()  # raising here rolls the transaction back instead of committing it
        except DBAPIError as exc:
            if (known := ledger_error(exc)) is not exc:
                raise known from exc
            raise

    @contextmanager
    def reading(self) -> Iterator[SqlSession]:
        """A session over one snapshot that no writer waits for (:func:`~.connect.read_only`)."""
        try:
            with self.transactions.reading() as conn:
                yield SqlSession(conn)
        except DBAPIError as exc:
            raise LedgerUnavailable(f"database error: {type(exc.orig).__name__}: {exc.orig}") from exc

    def checkpoint(self) -> None:
        """SQLite: copy the write-ahead log into the database without waiting for anyone (PASSIVE), so
        writers never pay for it; the server calls this every second. Other backends: nothing to do."""
        if self.engine.dialect.name != "sqlite":
            return
        raw = self.engine.raw_connection()  # outside any transaction: no BEGIN IMMEDIATE, no write lock
        try:
            cursor = raw.cursor()
            cursor.execute("PRAGMA wal_checkpoint(PASSIVE)")
            cursor.close()
        finally:
            raw.close()

    def ping(self) -> None:
        try:
            with read_only(self.engine) as conn:  # on SQLite a deferred BEGIN: a probe waits for no writer
                conn.execute(select(1))
        except SQLAlchemyError as exc:
            raise LedgerUnavailable(f"database unreachable: {exc}") from exc

    def events(
        self, after: int, limit: int, types: tuple[str, ...] = (), scope: str | None = None, user: str | None = None
    ) -> list[Event]:
        from hpcpolicy.ledger.sql.audit import read_events  # the audit module builds on this one

        try:
            return read_events(self, after, limit, types, scope, user)
        except SQLAlchemyError as exc:
            raise LedgerUnavailable(f"database error: {exc}") from exc

    def period_sums(self, start: datetime, end: datetime, project: str | None = None) -> PeriodSums:
        return read_period(self.engine, start, end, project)


class SqlSession(LienRows, QueueRows, AlertRows, GroupedReads):
    def __init__(self, conn: Connection, *, audit: bool = False, seal: bool = False):
        """``seal``: the events of this transaction are sealed as they are inserted (:mod:`~.chain`)."""
        self.conn = conn
        self.dialect = conn.dialect.name
        self.audit = audit
        self.seal = seal
        self._events: list[tuple[Any, ...]] = []

    def lock(self, scopes: Sequence[str]) -> None:
        if self.dialect == "sqlite" or not scopes:
            return  # BEGIN IMMEDIATE already holds the database write lock
        wanted = sorted(set(scopes))
        statement, values = lock_scopes(self.conn.dialect, wanted)
        locked = [row[0] for row in fetch(self.conn, statement, values)]
        if len(locked) == len(wanted):
            return  # the usual case: every scope has its row, now locked in sorted order
        missing = [{"scope": s} for s in wanted if s not in set(locked)]
        # Created in a short transaction of its own: inside this one, two admissions inserting the same
        # new scope would both hold a shared lock on it and deadlock when each asks for the exclusive one.
        # (Locks taken after this are out of sorted order; a deadlock that may cause is retried.)
        stmt: Any
        if self.dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            stmt = pg_insert(scope_locks).on_conflict_do_nothing()
        else:
            stmt = insert(scope_locks).prefix_with("IGNORE")
        with self.conn.engine.begin() as own:
            own.execute(stmt, missing)
        fetch(self.conn, statement, values)

    def settled(self, target: Target, start: datetime, end: datetime) -> Amounts:
        """Charges from the running totals of the window's whole days and months, and from the charges
        themselves only in its partial days (:mod:`~hpcpolicy.ledger.sql.buckets`); adjustments as ever.
        One window of :func:`~.usage_read.read_usage`."""
        return read_usage(self.conn, UsageReads((), ((target, start, end),)), start)[1][0]

    def usage(self, quotas: Iterable[QuotaRef], now: datetime) -> UsageSnapshot:
        """What ``quotas`` have consumed at ``now``, read in one statement (:mod:`~.usage_read`)."""
        return usage_snapshot(quotas, now, lambda reads: read_usage(self.conn, reads, now))

    def reserved(self, target: Target, now: datetime) -> tuple[Amounts, Active]:
        """One counter's open liens of :func:`~.usage_read.read_usage`."""
        return read_usage(self.conn, UsageReads((target,), ()), now)[0][0]

    def add_lien(self, lien: Lien) -> None:
        self.insert(liens, lien_row(lien))
        held.change(self.conn, None, lien)
        if self.audit:
            self.record(lien_event(lien, new=True, at=lien.created_at, request_id=request_id.get()))

    def update_lien(self, lien: Lien) -> None:
        row = lien_row(lien)
        row["lien_id"] = row.pop("id")
        # What its running totals hold now: read under the row's lock, so that two updates of one lien in
        # flight on a database server take it off its totals once (a caller usually holds the lock already).
        before = self.get_lien(lien.id, lock=True)
        self.conn.execute(UPDATE_LIEN, row)
        if before is not None:  # no such lien: the UPDATE changed nothing, and nor do the totals
            held.change(self.conn, before, lien)
        if self.audit:
            at = lien.ended_at or lien.started_at or lien.created_at
            self.record(lien_event(lien, new=False, at=at, request_id=request_id.get()))

    def record(self, event: Event) -> None:
        """Record ``event`` in this transaction: it commits with the change it records, or not at all
        (the events of a transaction are inserted together when it ends, one statement for all)."""
        self._events.append(event_row(event, text_time=self.dialect == "sqlite"))

    @contextmanager
    def writes(self, *, last: bool = False) -> Iterator[None]:
        """A block of writes sent together (PostgreSQL: one round trip, :func:`~.driver.pipelined`), the
        events they record included; ``last``: nothing follows them in this session, and on PostgreSQL its
        commit goes in the same round trip."""
        with pipelined(self.conn, commit=last):
            yield
            self.flush_events()
            if last:
                deadline.check()  # as before the session's own commit: a call past its deadline commits nothing

    def flush_events(self) -> None:
        if self._events:
            rows = chained(self.conn, self._events) if self.seal else self._events
            if one_statement(self.conn, len(rows)):
                self.executemany(insert_event_sql(self.dialect, len(rows)), [tuple(v for row in rows for v in row)])
            else:
                self.executemany(insert_event_sql(self.dialect), rows)
            self._events = []

    def insert(self, table: Table, row: dict[str, Any]) -> None:
        """One row of the hot path (a lien, a decision) through the DB-API cursor (:func:`~.rows.driver_insert`)."""
        values = driver_values(table, row, text_time=self.dialect == "sqlite")
        self.executemany(driver_insert(self.conn.dialect, table), (values,))

    def executemany(self, sql: str, rows: Sequence[tuple[Any, ...]]) -> None:
        """Run ``sql`` (the driver's own placeholders) for each row on this transaction's DB-API cursor: the
        admission's rows, the audit log's inserts and the sealer's updates, where SQLAlchemy's execution
        machinery cost more than the rows. Driver errors come out as SQLAlchemy's, so the session maps them
        as any other."""
        execute_many(self.conn, sql, rows)

    def add_charge(self, charge: Charge) -> None:
        a = charge.amounts
        values = {
            "id": charge.id,
            "lien_id": charge.lien_id,
            "job_id": charge.job_id,
            "user_id": charge.user_id,
            "project": charge.project,
            "team": charge.team,
            "org": charge.org,
            "cluster": charge.cluster,
            "partition": charge.partition,
            "cpu_hours": a.cpu_hours,
            "gpu_hours": a.gpu_hours,
            "cost": a.cost,
            "at": to_db(charge.at),
            "source": charge.source,
            "key": charge.key,
            "gpu_type": charge.gpu_type,
            "raw_cpu_hours": charge.raw_hours[0] if charge.raw_hours else None,
            "raw_gpu_hours": charge.raw_hours[1] if charge.raw_hours else None,
        }
        self.conn.execute(INSERT_CHARGE, values)
        sliced = (charge.cluster, charge.partition, charge.gpu_type)
        added = (a.cpu_hours, a.gpu_hours, a.cost)
        buckets.add(self.conn, buckets.bucket_rows(entry_scopes(charge), sliced, to_db(charge.at) or charge.at, added))
        if self.audit:
            self.record(charge_event(charge, request_id.get()))

    def find_charge(self, key: str) -> Charge | None:
        row = self.conn.execute(select(charges).where(charges.c.key == key)).mappings().first()
        return charge_from_row(row) if row else None

    def charges_for_lien(self, lien_id: str) -> list[Charge]:
        rows = self.conn.execute(select(charges).where(charges.c.lien_id == lien_id).order_by(charges.c.at))
        return [charge_from_row(r) for r in rows.mappings()]

    def add_adjustment(self, adjustment: Adjustment) -> None:
        a = adjustment.amounts
        self.conn.execute(
            insert(adjustments).values(
                id=adjustment.id,
                scope=adjustment.scope,
                kind=adjustment.kind.value,
                cpu_hours=a.cpu_hours,
                gpu_hours=a.gpu_hours,
                cost=a.cost,
                reason=adjustment.reason,
                author=adjustment.author,
                at=to_db(adjustment.at),
                key=adjustment.key,
            )
        )
        if self.audit:
            self.record(adjustment_event(adjustment, request_id.get()))

    def find_adjustment(self, key: str) -> Adjustment | None:
        row = self.conn.execute(select(adjustments).where(adjustments.c.key == key)).mappings().first()
        if row is None:
            return None
        return Adjustment(
            id=row["id"],
            scope=row["scope"],
            kind=AdjustmentKind(row["kind"]),
            amounts=Amounts(row["cpu_hours"], row["gpu_hours"], row["cost"]),
            reason=row["reason"],
            author=row["author"],
            at=from_db(row["at"]) or row["at"],
            key=row["key"],
        )

    def add_decision(self, record: DecisionRecord) -> None:
        self.insert(decisions, decision_row(record))
        if self.audit:
            self.record(decision_event(record, request_id.get()))

    def get_decision(self, decision_id: str) -> DecisionRecord | None:
        row = self.conn.execute(select(decisions).where(decisions.c.id == decision_id)).mappings().first()
        return decision_from_row(row) if row else None

    def find_decision(self, key: str) -> DecisionRecord | None:
        row = self.conn.execute(DECISION_BY_KEY, {"key": key}).mappings().first()
        return decision_from_row(row) if row else None

    def recent_decisions(self, where: DecisionFilter, limit: int) -> list[DecisionRecord]:
        return [decision_from_row(row) for row in self.conn.execute(decisions_statement(where, limit)).mappings()]

    def usage_since(self, since: datetime) -> Iterator[tuple[str | None, str, datetime, Amounts]]:
        query = select(charges.c.project, charges.c.user_id, charges.c.at, charges.c.cpu_hours, charges.c.gpu_hours,
                       charges.c.cost).where(charges.c.at >= to_db(since))  # fmt: skip
        for project, user, at, cpu, gpu, cost in self.conn.execute(query):
            yield project, user, from_db(at) or at, Amounts(float(cpu), float(gpu), float(cost))

    def charge_totals(
        self,
        columns: tuple[str, ...],
        start: datetime,
        end: datetime,
        *,
        daily: bool = False,
        where: tuple[tuple[str, str], ...] = (),
    ) -> list[tuple[tuple[str | None, ...], date | None, Amounts]]:
        return totals.charge_totals(self.conn, columns, start, end, daily, where)
