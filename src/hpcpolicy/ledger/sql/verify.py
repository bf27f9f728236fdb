"""Verifying the audit chain in a SQL ledger, on every core: ``hpcpolicy audit verify`` reads 100,000
events a second on two.

The walk (:func:`hpcpolicy.ledger.events.verify_stored`) is a few microseconds of hashing and parsing per
event, so a long chain is cut into ranges verified by forked processes at once. Each range takes up from
the hash its predecessor records, and the range before it checks that hash as its own last event's, so
the ranges together check every link exactly as one walk would; the first break by ``seq`` is reported.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor

from sqlalchemy import Text, select, type_coerce

from hpcpolicy.ledger.events import GENESIS, StoredEvent, Tamper, verify_stored
from hpcpolicy.ledger.sql.audit import first_sealed, hash_at, head
from hpcpolicy.ledger.sql.connect import create_ledger_engine
from hpcpolicy.ledger.sql.ledger import SqlLedger
from hpcpolicy.ledger.sql.tables import events

#: Below this many events one process does it faster than starting others.
PARALLEL_FROM = 50_000

_STORED = (events.c.seq, events.c.prev_hash, events.c.hash, events.c.event_id, events.c.type, events.c.subject,
           type_coerce(events.c.time, Text), events.c.actor, events.c.request_id, events.c.scopes,
           events.c.body)  # fmt: skip


def verify(ledger: SqlLedger, from_seq: int | None = None, workers: int = 1) -> tuple[int, Tamper | None]:
    """(events checked, the first break or None). From ``from_seq`` > 1, the chain is taken up from the
    hash its predecessor records (which :func:`verify` from 1 vouches for); without ``from_seq``, from the
    first event the database holds (1, unless older events were archived and pruned: see
    :mod:`hpcpolicy.ledger.sql.archive`), taken up from the ``prev_hash`` it records. ``workers`` > 1
    verifies a long chain in that many forked processes."""
    if from_seq is None:
        first = first_sealed(ledger)
        from_seq, start_hash = first if first else (1, GENESIS)
    elif from_seq > 1:
        found_hash = hash_at(ledger, from_seq - 1)
        if found_hash is None:
            return 0, Tamper("deleted", from_seq - 1, "the event before the starting point is missing")
        start_hash = found_hash
    else:
        start_hash = GENESIS
    bounds = _ranges(from_seq, head(ledger), workers)
    hashes = [start_hash] + [hash_at(ledger, start - 1) for start, _ in bounds[1:]]
    if len(bounds) == 1 or any(h is None for h in hashes):  # a range start missing: the plain walk names it
        return verify_range(ledger, from_seq, None, start_hash)
    url = ledger.engine.url.render_as_string(hide_password=False)
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(len(bounds), mp_context=context) as pool:
        results = list(pool.map(_verify_in_child, [url] * len(bounds), bounds, hashes))
    checked = 0
    for count, found in results:
        checked += count
        if found is not None:
            return checked, found
    return checked, None


def verify_range(ledger: SqlLedger, first: int, last: int | None, start_hash: str) -> tuple[int, Tamper | None]:
    """(events checked, the first break) of the chain from ``first`` to ``last`` (None: the end), taken up
    from ``start_hash``."""
    counted = [0]
    found = verify_stored(stored_rows(ledger, first, last), first, start_hash, counted)
    return counted[0], found


def stored_rows(ledger: SqlLedger, from_seq: int, until: int | None = None, page: int = 5000) -> Iterator[StoredEvent]:
    """Sealed events from ``from_seq`` (to ``until``) as stored (:data:`StoredEvent`), in ``seq`` order, a
    page at a time, as plain tuples from the driver: SQLAlchemy's rows and conversions (``time``; SQLite
    gives text) cost more than checking the event."""
    after = from_seq - 1
    raw = ledger.engine.raw_connection()
    try:
        while True:
            query = select(*_STORED).where(events.c.seq > after)
            if until is not None:
                query = query.where(events.c.seq <= until)
            query = query.order_by(events.c.seq).limit(page)
            sql = str(query.compile(dialect=ledger.engine.dialect, compile_kwargs={"literal_binds": True}))
            cursor = raw.cursor()
            try:
                cursor.execute(sql)  # only integers are bound, as literals
                rows = cursor.fetchall()
            finally:
                cursor.close()
            raw.commit()  # end the read transaction between pages
            if not rows:
                return
            yield from rows
            after = int(rows[-1][0])
    finally:
        raw.close()


def _ranges(first: int, last: int, workers: int) -> list[tuple[int, int | None]]:
    count = last - first + 1
    if workers <= 1 or count < PARALLEL_FROM:
        return [(first, None)]
    size = -(-count // workers)
    starts = list(range(first, last + 1, size))
    return [(start, start + size - 1 if i < len(starts) - 1 else None) for i, start in enumerate(starts)]


def _verify_in_child(url: str, bounds: tuple[int, int | None], start_hash: str) -> tuple[int, Tamper | None]:
    engine = create_ledger_engine(url)
    try:
        return verify_range(SqlLedger(engine), bounds[0], bounds[1], start_hash)
    finally:
        engine.dispose()
