"""Named leases on the ``leases`` table: one holder at a time for a singleton job (the audit delivery worker).

A lease is a row (name, holder, expires_at). Every change is one compare-and-set statement, so the database
decides races, not the callers: acquiring updates the row only where it is ours already or has run out
(``holder = me OR expires_at < now``), and a missing row is inserted in a transaction of its own, the loser
of a duplicate-key race simply not getting the lease. On PostgreSQL and MariaDB the UPDATE locks the row and
re-reads it once the winner commits, so two acquirers of an expired lease cannot both match; on SQLite the
sessions' ``BEGIN IMMEDIATE`` serialises them.

Times come from the caller's clock (replicas are expected to keep NTP time; the TTL, seconds, dwarfs the
skew). Skew can only make two replicas *believe* they hold a lease for a moment; what they may change under
it is checked by the database against the row itself (:func:`held`), so it stays with one holder.
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import ColumnElement, Connection, insert, or_, select, update

from hpcpolicy.ledger.base import Contention, DuplicateKey, LedgerUnavailable
from hpcpolicy.ledger.sql.connect import read_only
from hpcpolicy.ledger.sql.ledger import SqlLedger
from hpcpolicy.ledger.sql.rows import to_db
from hpcpolicy.ledger.sql.tables import leases


def utc_now() -> datetime:
    return datetime.now(UTC)


def holder_id() -> str:
    """Who holds a lease: host and process (for an operator reading the table) and a random part (unique)."""
    return f"{socket.gethostname()[:120]}:{os.getpid()}:{uuid.uuid4().hex[:12]}"


@dataclass
class Lease:
    """The lease ``name`` as seen by ``holder``; ``ttl``: how long each acquisition or renewal lasts."""

    ledger: SqlLedger
    name: str
    ttl: timedelta
    holder: str = field(default_factory=holder_id)
    clock: Callable[[], datetime] = utc_now

    def acquire(self) -> bool:
        """Take the lease if it is free, expired or ours already (then it is renewed); False if another
        holder has it."""
        now = self.clock()
        try:
            with self.ledger.session() as session:
                free = or_(leases.c.holder == self.holder, leases.c.expires_at < to_db(now))
                if self._extend(session.conn, now, free):
                    return True
            with self.ledger.session() as session:  # alone: a duplicate key aborts the transaction it happens in
                session.conn.execute(insert(leases).values(name=self.name, holder=self.holder,
                                                           expires_at=to_db(now + self.ttl)))  # fmt: skip
        except (DuplicateKey, Contention):
            return False  # the row exists, or a racing acquirer's lock won: someone else has it
        return True

    def renew(self) -> bool:
        """Extend the lease if this holder still has it and it has not run out; False means it was lost and
        whatever it guarded must stop (acquire again to resume)."""
        with self.ledger.session() as session:
            return held(session.conn, self)

    def release(self) -> None:
        """Let the lease go now, so another replica need not wait for it to run out."""
        with self.ledger.session() as session:
            session.conn.execute(update(leases).where(leases.c.name == self.name, leases.c.holder == self.holder)
                                 .values(expires_at=to_db(self.clock() - timedelta(microseconds=1))))  # fmt: skip

    def owner(self) -> tuple[str, datetime] | None:
        """(holder, expiry) as stored, or None when the lease was never taken."""
        with read_only(self.ledger.engine) as conn:
            row = conn.execute(select(leases.c.holder, leases.c.expires_at).where(leases.c.name == self.name)).first()
        return None if row is None else (str(row[0]), row[1].replace(tzinfo=UTC))

    def _extend(self, conn: Connection, now: datetime, condition: ColumnElement[bool]) -> bool:
        stmt = (update(leases).where(leases.c.name == self.name, condition)
                .values(holder=self.holder, expires_at=to_db(now + self.ttl)))  # fmt: skip
        return conn.execute(stmt).rowcount == 1


def held(conn: Connection, lease: Lease) -> bool:
    """In the caller's transaction: renew ``lease`` if its holder still has it, and lock its row until the
    transaction ends. A change made in the same transaction after a True answer is fenced: a holder that lost
    the lease (paused past its expiry, another took over) gets False and changes nothing."""
    now = lease.clock()
    still = (leases.c.holder == lease.holder) & (leases.c.expires_at > to_db(now))
    return lease._extend(conn, now, still)


class Keeper:
    """A background loop's hold on a lease (the admission queue's dispatcher, the alerts): acquired, then
    renewed when a third of its TTL has passed. Without a lease (a ledger that is not SQL: one process)
    it is always held."""

    def __init__(self, lease: Lease | None):
        self.lease = lease
        self.holding = lease is None
        self._renewed = 0.0

    def hold(self) -> bool:
        """Whether this process holds the lease now (acquiring or renewing it when due)."""
        if self.lease is None:
            return True
        if self.holding and time.monotonic() - self._renewed < self.lease.ttl.total_seconds() / 3:
            return True
        self.holding = self.lease.acquire()
        if self.holding:
            self._renewed = time.monotonic()
        return self.holding

    def release(self) -> None:
        """Let the lease go (LedgerUnavailable suppressed: it then runs out by itself)."""
        if self.lease is not None and self.holding:
            self.holding = False
            with contextlib.suppress(LedgerUnavailable):
                self.lease.release()
