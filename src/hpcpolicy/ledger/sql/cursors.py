"""Delivery cursors (``audit_cursors``): the last sealed event each sink acknowledged.

A cursor only moves forward and only under its sink's lease: :func:`advance` checks and renews the lease in
the same transaction as the update (:func:`hpcpolicy.ledger.sql.lease.held`), so a worker that lost its lease
while paused, and wakes up after another replica took over, can move the cursor neither back nor forward.
"""

from __future__ import annotations

from sqlalchemy import insert, select, update

from hpcpolicy.ledger.sql.connect import read_only
from hpcpolicy.ledger.sql.lease import Lease, held
from hpcpolicy.ledger.sql.ledger import SqlLedger
from hpcpolicy.ledger.sql.rows import to_db
from hpcpolicy.ledger.sql.tables import audit_cursors


def cursor(ledger: SqlLedger, sink: str) -> int:
    """The last ``seq`` ``sink`` acknowledged (0: nothing yet)."""
    with read_only(ledger.engine) as conn:
        found = conn.execute(select(audit_cursors.c.seq).where(audit_cursors.c.sink == sink)).scalar()
    return int(found or 0)


def cursors(ledger: SqlLedger) -> dict[str, int]:
    """Every sink's cursor: what pruning must not pass (a sink would find a gap and stop)."""
    with read_only(ledger.engine) as conn:
        return {str(sink): int(seq) for sink, seq in conn.execute(select(audit_cursors.c.sink, audit_cursors.c.seq))}


def advance(lease: Lease, sink: str, seq: int) -> bool:
    """Record that ``sink`` acknowledged every event up to ``seq``, if ``lease`` is still held (renewing it);
    False, with nothing changed, when it is not. A ``seq`` at or below the stored one changes nothing."""
    now = to_db(lease.clock())
    with lease.ledger.session() as session:
        conn = session.conn
        if not held(conn, lease):
            return False
        moved = conn.execute(update(audit_cursors).where(audit_cursors.c.sink == sink, audit_cursors.c.seq < seq)
                             .values(seq=seq, updated_at=now))  # fmt: skip
        stored = select(audit_cursors.c.seq).where(audit_cursors.c.sink == sink)
        if moved.rowcount == 0 and conn.execute(stored).first() is None:
            # the sink's first acknowledgement; the lease row lock (or SQLite's write lock) keeps this insert alone
            conn.execute(insert(audit_cursors).values(sink=sink, seq=seq, updated_at=now))
        return True
