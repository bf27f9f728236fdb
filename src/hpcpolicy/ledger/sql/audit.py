"""Sealing and verifying the audit chain in a SQL ledger (docs/design/audit.md).

Writers only insert events; :func:`seal` orders them: it takes the unsealed rows in insertion order and
gives each the next ``seq`` and its hash, chained to the last sealed event, in one transaction. One
sealer works at a time: on SQLite the transaction holds the database's write lock, elsewhere the sealer
locks the ``audit:sealer`` row of ``scope_locks`` (the lock admissions use for scopes), so sealers on
several replicas take turns and never fork the chain.
"""

from __future__ import annotations

from collections.abc import Iterator

from sqlalchemy import bindparam, func, literal, select, update

from hpcpolicy.ledger.events import GENESIS, Event, Tamper, link, verify_chain
from hpcpolicy.ledger.sql.ledger import SqlLedger
from hpcpolicy.ledger.sql.rows import event_from_row
from hpcpolicy.ledger.sql.tables import events

#: The scope lock sealers share.
SEALER_LOCK = "audit:sealer"
_SEAL = (
    update(events)
    .where(events.c.id == bindparam("row_id"))
    .values(seq=bindparam("new_seq"), prev_hash=bindparam("new_prev"), hash=bindparam("new_hash"))
)


def seal(ledger: SqlLedger, batch: int = 5000) -> int:
    """Seal up to ``batch`` events committed so far, in the order they were inserted; return how many."""
    with ledger.session() as session:
        session.lock([SEALER_LOCK])
        conn = session.conn
        last = conn.execute(select(events.c.seq, events.c.hash).order_by(events.c.seq.desc()).limit(1)
                            .where(events.c.seq.is_not(None))).first()  # fmt: skip
        seq, previous = (int(last[0]), str(last[1])) if last else (0, GENESIS)
        pending = conn.execute(
            select(events.c.id, events.c.digest).where(events.c.seq.is_(None)).order_by(events.c.id).limit(batch)
        )
        updates = []
        for row_id, body_digest in pending:  # the writer digested each body: sealing hashes 64-byte strings
            seq += 1
            chained = link(previous, seq, body_digest)
            updates.append({"row_id": row_id, "new_seq": seq, "new_prev": previous, "new_hash": chained})
            previous = chained
        if updates:
            conn.execute(_SEAL, updates)
        return len(updates)


def sealed_events(ledger: SqlLedger, from_seq: int = 1, page: int = 2000) -> Iterator[Event]:
    """Sealed events in ``seq`` order from ``from_seq``, read a page at a time."""
    after = from_seq - 1
    while True:
        with ledger.engine.connect() as conn:
            rows = list(conn.execute(select(events).where(events.c.seq > after).order_by(events.c.seq).limit(page))
                        .mappings())  # fmt: skip
        if not rows:
            return
        for row in rows:
            yield event_from_row(row)
        after = int(rows[-1]["seq"])


def verify(ledger: SqlLedger, from_seq: int = 1) -> tuple[int, Tamper | None]:
    """(events checked, the first break or None). From ``from_seq`` > 1, the chain is taken up from the
    hash its predecessor records (which :func:`verify` from 1 vouches for)."""
    start_hash = GENESIS
    if from_seq > 1:
        with ledger.engine.connect() as conn:
            row = conn.execute(select(events.c.hash).where(events.c.seq == from_seq - 1)).first()
        if row is None:
            return 0, Tamper("deleted", from_seq - 1, "the event before the starting point is missing")
        start_hash = str(row[0])
    counted = 0

    def counting() -> Iterator[Event]:
        nonlocal counted
        for event in sealed_events(ledger, from_seq):
            counted += 1
            yield event

    found = verify_chain(counting(), from_seq, start_hash)
    return counted, found


def unsealed(ledger: SqlLedger) -> int:
    """How many committed events are not sealed yet (not covered by the chain)."""
    with ledger.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(events).where(events.c.seq.is_(None))).scalar_one())


def read_events(
    ledger: SqlLedger, after: int, limit: int, types: tuple[str, ...] = (), scope: str | None = None
) -> list[Event]:
    """Sealed events with ``seq`` > ``after`` in order, at most ``limit``: of the given ``types`` (all when
    empty) and concerning ``scope`` (one of the space-separated scopes of the event) when given."""
    query = select(events).where(events.c.seq > after)
    if types:
        query = query.where(events.c.type.in_(types))
    if scope is not None:
        padded = literal(" ") + events.c.scopes + literal(" ")
        escaped = scope.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = query.where(padded.like(f"% {escaped} %", escape="\\"))
    with ledger.engine.connect() as conn:
        rows = conn.execute(query.order_by(events.c.seq).limit(limit)).mappings()
        return [event_from_row(row) for row in rows]
