"""Where a ledger session's transaction comes from, per backend and per caller.

- A database server: a pooled connection's transaction (``engine.begin()``); admissions serialise on
  scope rows locked inside it (:meth:`~.ledger.SqlSession.lock`).
- SQLite from a thread: this process's writer lock, then ``BEGIN IMMEDIATE`` (SQLite's write lock).
  Threads queue on the lock instead of spinning in SQLite's busy handler, whose sleeps (up to 100 ms
  each) would turn contention into long tails.
- SQLite from the event loop (an inline call, :func:`hpcpolicy.ledger.deadline.inline`): the call's first
  session never waits for either lock; it raises :class:`~hpcpolicy.ledger.deadline.WriterBusy` before
  doing anything, and the caller runs the call again later or on a thread.
- SQLite, inline calls that may be grouped: a savepoint in the group transaction the loop has open
  (:mod:`~hpcpolicy.ledger.sql.group`), which the caller commits once for all its members.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, Engine, RootTransaction
from sqlalchemy.exc import DBAPIError, IntegrityError

from hpcpolicy.ledger import deadline
from hpcpolicy.ledger.base import Contention, DuplicateKey, LedgerUnavailable
from hpcpolicy.ledger.sql.connect import NOWAIT, READ_ONLY, begin_sql, read_only
from hpcpolicy.ledger.sql.errors import is_contention, is_operational, is_sqlite_busy
from hpcpolicy.ledger.sql.group import Group


class Transactions:
    """The transactions of one ledger's write sessions (:meth:`open`) and its group (:attr:`group`)."""

    def __init__(self, engine: Engine):
        self.engine = engine
        sqlite = engine.dialect.name == "sqlite"
        self._writer_lock = threading.Lock() if sqlite else None
        #: SQLite's sessions that must not wait for the writer.
        self._nowait = engine.execution_options(**{NOWAIT: True}) if sqlite else None
        self._kept: Connection | None = None
        #: SQLite's reads on the event loop's thread: a deferred ``BEGIN`` on a connection kept for them.
        self._reader = engine.execution_options(**{READ_ONLY: True}) if sqlite else None
        self._kept_reader: Connection | None = None
        #: The group transaction of inline calls open on the event loop's thread, until committed.
        self.group: Group | None = None

    @contextmanager
    def open(self) -> Iterator[Connection]:
        """A session's transaction: its own, or (an inline call that may be grouped) a savepoint in the
        group transaction this thread has open, opened by this session if there is none."""
        call = deadline.current()
        group = self.group
        if group is not None and group.owner == threading.get_ident():
            if call is None or not call.grouped:  # it would wait for the writer lock its own thread holds
                raise RuntimeError("a write session outside the group transaction open on its thread")
            call.first, call.joined = False, True
            with group.member() as conn:
                yield conn
            return
        nowait = self._nowait is not None and deadline.take_nowait()
        if nowait and call is not None and call.grouped:
            self.group = group = self._open_group()
            call.joined = True
            with group.member() as conn:
                yield conn
            return
        with self._writer(nowait), self._begin(nowait) as conn:
            yield conn

    @contextmanager
    def reading(self) -> Iterator[Connection]:
        """A transaction that only reads, over one snapshot, holding no lock a writer waits for
        (:func:`~.connect.read_only`). An inline call's (SQLite, on the event loop) runs on a connection kept
        for them, as its writes do (:meth:`_begin_nowait`): checking one out of the pool and back cost a
        read-only check a tenth of its time."""
        kept = self._kept_reader
        if self._reader is None or deadline.current() is None or (kept is not None and _reading(kept)):
            with read_only(self.engine) as conn:
                yield conn
            return
        if kept is None or kept.closed or kept.invalidated:
            kept = self._kept_reader = self._reader.connect()
        # The snapshot's BEGIN and its end go to the driver: SQLAlchemy's transaction around them cost a
        # read-only check a tenth of its time. A statement run through SQLAlchemy inside joins it (the
        # begin hook sees the transaction open), and its transaction is ended with it.
        begin_sql(kept, "BEGIN")
        try:
            yield kept
        except BaseException:
            _end(kept, commit=False)
            raise
        _end(kept, commit=True)

    def after_commit(self, callback: Callable[[], None]) -> None:
        """``callback()`` once this thread's writes are committed: at once, or, for an inline call that joined
        the open group, when the group commits (never if that fails: the call then runs again alone)."""
        group, call = self.group, deadline.current()
        if group is not None and group.owner == threading.get_ident() and call is not None and call.joined:
            group.committed.append(callback)
        else:
            callback()

    def commit_group(self) -> None:
        """Commit the group transaction, if one is open; the ledger's exceptions for a failed commit."""
        group, self.group = self.group, None
        if group is None:
            return
        try:
            group.commit()
        except DBAPIError as exc:
            if (known := ledger_error(exc)) is not exc:
                raise known from exc
            raise

    @contextmanager
    def _writer(self, nowait: bool) -> Iterator[None]:
        """This process's writer lock (SQLite), or at once :class:`~.deadline.WriterBusy` when ``nowait``."""
        lock = self._writer_lock
        if lock is None:
            yield
            return
        self._take_writer(nowait)
        try:
            yield
        finally:
            lock.release()

    def _take_writer(self, nowait: bool) -> None:
        assert self._writer_lock is not None  # SQLite
        if not self._writer_lock.acquire(blocking=not nowait):
            raise deadline.WriterBusy("another thread of this process is writing")

    @contextmanager
    def _begin(self, nowait: bool) -> Iterator[Connection]:
        """``engine.begin()``; with ``nowait``, SQLite's ``BEGIN IMMEDIATE`` that does not wait for another
        process's write either (:meth:`_begin_nowait`)."""
        if not nowait:
            with self.engine.begin() as conn:
                yield conn
            return
        conn, transaction = self._begin_nowait()
        with transaction:
            yield conn

    def _begin_nowait(self) -> tuple[Connection, RootTransaction]:
        """``BEGIN IMMEDIATE`` refused at once (:class:`~.deadline.WriterBusy`) if another process writes, on
        a connection kept for these sessions: they hold this process's writer lock, so one at a time uses
        it, and checking a connection out of the pool and back cost an inline decision more than its
        ``BEGIN``."""
        assert self._nowait is not None
        kept = self._kept
        if kept is None or kept.closed or kept.invalidated:
            kept = self._kept = self._nowait.connect()
            # A group's members each write inside a savepoint, whose undo copies of the pages it changes go to
            # a statement journal: in memory, not in a temporary file (a third of a member's cost, measured).
            raw = kept.connection.dbapi_connection  # outside a transaction: SQLite refuses it inside one
            assert raw is not None
            raw.execute("PRAGMA temp_store=MEMORY")
        try:
            return kept, kept.begin()
        except DBAPIError as exc:
            if is_sqlite_busy(exc):  # refused at once: another process writes
                raise deadline.WriterBusy(f"another process is writing: {exc.orig}") from exc
            raise

    def _open_group(self) -> Group:
        """The writer lock and ``BEGIN IMMEDIATE``, neither waited for, held until the group commits."""
        self._take_writer(nowait=True)
        assert self._writer_lock is not None
        try:
            conn, transaction = self._begin_nowait()
        except BaseException:
            self._writer_lock.release()
            raise
        return Group(conn, transaction, self._writer_lock.release)


def ledger_error(exc: DBAPIError) -> Exception:
    """The ledger's exception for a driver's error: a key taken, a conflict to retry, a database gone; any
    other error as it is."""
    if isinstance(exc, IntegrityError):
        return DuplicateKey(str(exc.orig))
    if is_contention(exc):
        return Contention(f"transaction conflict: {type(exc.orig).__name__}: {exc.orig}")
    if exc.connection_invalidated or is_operational(exc):
        return LedgerUnavailable(f"database error: {type(exc.orig).__name__}: {exc.orig}")
    return exc


def _reading(conn: Connection) -> bool:
    """Whether ``conn`` (the kept reader, not closed) is in a read already (a nested read on its thread)."""
    if conn.closed or conn.invalidated:
        return False
    return conn.in_transaction() or bool(conn.connection.dbapi_connection.in_transaction)  # type: ignore[union-attr]


def _end(conn: Connection, *, commit: bool) -> None:
    """End the kept reader's snapshot (and SQLAlchemy's transaction, if a statement began one in it)."""
    if conn.in_transaction():
        if commit:
            conn.commit()
        else:
            conn.rollback()
    if conn.invalidated or conn.closed:
        return
    raw = conn.connection.dbapi_connection
    if raw is not None and raw.in_transaction:
        begin_sql(conn, "COMMIT" if commit else "ROLLBACK")
