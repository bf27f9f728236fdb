"""Sealing audit events in the transaction that writes them, where the database serialises writers anyway.

On PostgreSQL and MariaDB, writers only insert events and a sealer orders them after commit
(:mod:`~hpcpolicy.ledger.sql.audit`): reading the chain's head in every writing transaction would
serialise every admission of every replica on one row. SQLite has one writer at a time already (every
write session holds its write lock from ``BEGIN IMMEDIATE``), so there a transaction can extend the chain
itself: one indexed read of the head, then its events go in with ``seq``, ``prev_hash`` and ``hash`` set.

What that saves: the sealer's second write of every event row, and its transaction, which held SQLite's
one writer for 9-12 ms each second at 1,000 events/s while admissions that arrived in that time backed
off (about a tenth of a reserved decision's CPU, measured in-process). It also closes the second in which
a committed event was not yet covered by the chain.

The chain stays in commit order: a transaction extends it only when no older event is still unsealed
(left by an earlier version, or by a process writing with sealing off); otherwise its events stay
unsealed too, and the sealer takes them all in insertion order, as before.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection

from hpcpolicy.ledger.events import GENESIS, links
from hpcpolicy.ledger.sql.driver import fetch_bound
from hpcpolicy.ledger.sql.rows import EVENT_COLUMNS

#: The chain's head (seq and hash of the last sealed event; NULLs when none is) and whether any committed
#: event still waits for the sealer: three lookups in the unique index on ``seq``, one statement.
HEAD = (
    "SELECT (SELECT seq FROM events WHERE seq IS NOT NULL ORDER BY seq DESC LIMIT 1),"
    " (SELECT hash FROM events WHERE seq IS NOT NULL ORDER BY seq DESC LIMIT 1),"
    " EXISTS (SELECT 1 FROM events WHERE seq IS NULL)"
)
#: Where :func:`~.rows.event_row` puts the body's digest; ``seq``, ``prev_hash`` and ``hash`` follow it.
DIGEST = EVENT_COLUMNS.index("digest")
assert EVENT_COLUMNS[DIGEST + 1:] == ("seq", "prev_hash", "hash")


def chained(conn: Connection, rows: Sequence[tuple[Any, ...]]) -> Sequence[tuple[Any, ...]]:
    """``rows`` (:func:`~.rows.event_row`'s, unsealed) as the next events of the chain, read in ``conn``'s
    write transaction; unchanged if older events wait for the sealer (it keeps the insertion order)."""
    seq, previous, waiting = fetch_bound(conn, HEAD, ())[0]
    if waiting:
        return rows
    chain = links(int(seq or 0), str(previous or GENESIS), (row[DIGEST] for row in rows))
    return [(*row[:DIGEST + 1], *linked) for row, linked in zip(rows, chain, strict=True)]
