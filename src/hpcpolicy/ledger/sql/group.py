"""Group commit (SQLite): the write sessions of several inline calls share one transaction and one commit.

On SQLite a reserved decision's commit and ``BEGIN`` were a quarter of its CPU: the commit writes every
B-tree page the transaction touched to the write-ahead log, and consecutive admissions touch the same
pages (the last leaf of ``liens``, ``decisions``, the audit log and their indexes, the org's running
totals). When several requests are ready in one turn of the event loop, their sessions run one after the
other in one transaction, each inside a ``SAVEPOINT`` of its own, and one ``COMMIT`` at the end of the turn
writes the pages once.

The rules that keep this as safe as a transaction per call:

- **No answer before the commit.** A member's call returns its result, but the caller
  (:class:`hpcpolicy.api.deps.Offload`) answers only once the group has committed; if the commit fails,
  nothing of the group was written, and each member runs again in a transaction of its own, whose answer
  it gets (a 503 if the database is gone).
- **A failing member takes nothing of the others with it**: its savepoint is rolled back (an idempotency
  key taken meanwhile, a deadline passed, a bug), and the exception goes to its caller alone.
- **Members are serial**: they run on the one thread that opened the group (the event loop), each sees the
  writes of the members before it, so check-and-reserve is serialised as ever and no budget can be
  overspent. The group holds this process's writer lock and SQLite's write lock from its ``BEGIN
  IMMEDIATE`` to its ``COMMIT``: a ledger thread or another process waits at most one turn of the loop.
- **Only calls that asked for it join** (``deadline.inline(grouped=True)``): calls that act on the
  assumption that what they wrote is committed as soon as their session ends (waking the admission
  queue's dispatcher, for one) commit on their own, after the open group is committed.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress

from sqlalchemy import Connection, RootTransaction
from sqlalchemy.exc import OperationalError

log = logging.getLogger("hpcpolicy.ledger")

#: Members of one group at most: past it the group commits before the next call joins, so that one turn
#: of the loop crowded with requests does not make the first of them wait for all the others.
MAX_MEMBERS = 64


class Group:
    """One open group transaction on ``conn``; ``release`` gives the writer lock back after the commit."""

    __slots__ = ("_raw", "_release", "committed", "conn", "members", "owner", "transaction")

    def __init__(self, conn: Connection, transaction: RootTransaction, release: Callable[[], None]):
        self.conn = conn
        self.transaction = transaction
        self._release = release
        self._raw = conn.connection.dbapi_connection
        self.owner = threading.get_ident()
        self.members = 0
        #: What the members asked to be told once their writes are committed (:meth:`commit`).
        self.committed: list[Callable[[], None]] = []

    @property
    def full(self) -> bool:
        return self.members >= MAX_MEMBERS

    @contextmanager
    def member(self) -> Iterator[Connection]:
        """One member's session: a savepoint, released when the member's block ends, rolled back if it
        raises (the exception goes on to the member's caller; the group stays open for the others)."""
        self._execute("SAVEPOINT member")
        try:
            yield self.conn
        except BaseException:
            self._execute("ROLLBACK TO member")
            self._execute("RELEASE member")
            raise
        self._execute("RELEASE member")
        self.members += 1

    def _execute(self, statement: str) -> None:
        """On the driver's connection (SQLAlchemy's execution cost more than these statements); a driver
        error comes out as SQLAlchemy's, which the session maps as any other (a lost disk: a 503)."""
        assert self._raw is not None
        try:
            self._raw.execute(statement)
        except sqlite3.Error as exc:
            raise OperationalError(statement, None, exc) from exc

    def commit(self) -> None:
        """Commit the members' writes; the writer is free afterwards, whether the commit worked or not (a
        failed commit rolls the whole group back). Then run what the members asked to be told once committed
        (metrics, decision logs): after a failed commit nothing is, and each member, run again alone, tells
        its own. A failing callback is logged: the writes are committed, the members' answers stand."""
        try:
            self.transaction.commit()
        except BaseException:
            with suppress(Exception):  # the connection is gone: SQLite has rolled it back itself
                self.transaction.rollback()
            raise
        finally:
            self._release()
        for callback in self.committed:
            try:
                callback()
            except Exception:
                log.exception("after the group commit")
