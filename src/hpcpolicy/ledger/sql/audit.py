"""Sealing and reading the audit chain in a SQL ledger (docs/design/audit.md; verifying it:
:mod:`hpcpolicy.ledger.sql.verify`).

On PostgreSQL and MariaDB writers only insert events; :func:`seal` orders them: it takes the unsealed rows
in insertion order and gives each the next ``seq`` and its hash, chained to the last sealed event, in one
transaction. One sealer works at a time: on SQLite the transaction holds the database's write lock,
elsewhere the sealer locks the ``audit:sealer`` row of ``scope_locks`` (the lock admissions use for
scopes), so sealers on several replicas take turns and never fork the chain. On SQLite each write
transaction seals its own events (:mod:`~hpcpolicy.ledger.sql.chain`); the sealer there signs checkpoints
and seals what a writer left unsealed.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import orjson
from sqlalchemy import ColumnElement, Connection, func, insert, literal, or_, select

from hpcpolicy.ledger.checkpoints import Checkpoint, CheckpointPolicy
from hpcpolicy.ledger.events import GENESIS, Event, links
from hpcpolicy.ledger.sql.connect import read_only
from hpcpolicy.ledger.sql.ledger import SqlLedger, SqlSession, from_db, to_db
from hpcpolicy.ledger.sql.rows import event_from_row
from hpcpolicy.ledger.sql.tables import audit_checkpoints, events

log = logging.getLogger("hpcpolicy.audit")

#: The scope lock sealers share.
SEALER_LOCK = "audit:sealer"


def _seal_sql(dialect: str) -> str:
    """The sealer's UPDATE in the driver's placeholders (``?`` for sqlite3, ``%s`` for psycopg and PyMySQL)."""
    mark = "?" if dialect == "sqlite" else "%s"
    return f"UPDATE events SET seq = {mark}, prev_hash = {mark}, hash = {mark} WHERE id = {mark}"


def seal(ledger: SqlLedger, batch: int = 5000, now: datetime | None = None) -> int:
    """Seal up to ``batch`` events committed so far, in the order they were inserted; return how many.
    With ``ledger.checkpoints`` set, sign a checkpoint in the same transaction when one is due.

    Whether there is anything to do is read first, without the sealer's lock: on SQLite, where write
    transactions seal their own events (:mod:`~.chain`), there usually is not, and taking the one writer
    every second for nothing made admissions back off."""
    policy = ledger.checkpoints
    now = now or datetime.now(UTC)
    if not _work_waiting(ledger, now):
        return 0
    signed: Checkpoint | None = None
    with ledger.session() as session:
        session.lock([SEALER_LOCK])
        conn = session.conn
        last = conn.execute(select(events.c.seq, events.c.hash).order_by(events.c.seq.desc()).limit(1)
                            .where(events.c.seq.is_not(None))).first()  # fmt: skip
        seq, previous = (int(last[0]), str(last[1])) if last else (0, GENESIS)
        pending = conn.execute(
            select(events.c.id, events.c.digest).where(events.c.seq.is_(None)).order_by(events.c.id).limit(batch)
        )
        rows = pending.all()  # the writer digested each body: sealing hashes 64-byte strings
        chain = links(seq, previous, (body_digest for _, body_digest in rows))
        updates = [(*linked, row_id) for (row_id, _), linked in zip(rows, chain, strict=True)]
        if updates:
            session.executemany(_seal_sql(session.dialect), updates)
            seq, _, previous = updates[-1][:3]  # the chain's new head
        if policy is not None and seq > 0:
            signed = _checkpoint_if_due(session, policy, seq, previous, now)
    if signed is not None and policy is not None and policy.export_file is not None:
        append_checkpoints(policy.export_file, [signed])
    return len(updates)


def _work_waiting(ledger: SqlLedger, now: datetime) -> bool:
    """Events wait for the sealer, or a checkpoint is due (read on a snapshot, no lock taken)."""
    with read_only(ledger.engine) as conn:
        if conn.execute(select(events.c.id).where(events.c.seq.is_(None)).limit(1)).first() is not None:
            return True
        if ledger.checkpoints is None:
            return False
        head = conn.execute(select(func.max(events.c.seq))).scalar()
        return head is not None and _due(conn, ledger.checkpoints, int(head), now)


def _due(conn: Connection, policy: CheckpointPolicy, seq: int, now: datetime) -> bool:
    """A checkpoint over the ``seq``-th event is due: none was signed, or ``policy``'s count of events or
    its interval has passed since the last one."""
    last = conn.execute(select(audit_checkpoints.c.seq, audit_checkpoints.c.time)
                        .order_by(audit_checkpoints.c.seq.desc()).limit(1)).first()  # fmt: skip
    if last is None:
        return True
    last_seq, last_time = int(last[0]), from_db(last[1])
    assert last_time is not None
    return seq > last_seq and (seq - last_seq >= policy.events or now - last_time >= policy.interval)


def _checkpoint_if_due(
    session: SqlSession, policy: CheckpointPolicy, seq: int, chain_hash: str, now: datetime
) -> Checkpoint | None:
    if not _due(session.conn, policy, seq, now):
        return None
    checkpoint = policy.signer.sign(seq, chain_hash, now)
    session.conn.execute(insert(audit_checkpoints), [checkpoint.to_dict() | {"time": to_db(now)}])
    return checkpoint


def append_checkpoints(path: Path, checkpoints: list[Checkpoint]) -> None:
    """Append checkpoints to an export file as JSON lines, synced to disk. A failure is logged, not raised:
    the checkpoints stay in the database and ``hpcpolicy audit checkpoints`` exports them again."""
    try:
        with path.open("ab") as out:
            out.write(b"".join(orjson.dumps(cp.to_dict()) + b"\n" for cp in checkpoints))
            out.flush()
            os.fsync(out.fileno())
    except (OSError, ValueError) as exc:
        log.warning("could not export audit checkpoint(s) to %s: %s", path, exc)


def stored_checkpoints(ledger: SqlLedger, after: int = 0) -> list[Checkpoint]:
    """The checkpoints the sealer stored, in ``seq`` order."""
    query = select(audit_checkpoints).where(audit_checkpoints.c.seq > after).order_by(audit_checkpoints.c.seq)
    with read_only(ledger.engine) as conn:
        rows = conn.execute(query).mappings().all()
    return [Checkpoint(int(r["seq"]), r["hash"], from_db(r["time"]) or r["time"], r["key_id"], r["signature"])
            for r in rows]  # fmt: skip


def hash_at(ledger: SqlLedger, seq: int) -> str | None:
    """The chain's hash of the ``seq``-th event, if there is one."""
    with read_only(ledger.engine) as conn:
        found = conn.execute(select(events.c.hash).where(events.c.seq == seq)).scalar()
    return str(found) if found is not None else None


def sealed_events(ledger: SqlLedger, from_seq: int = 1, page: int = 2000) -> Iterator[Event]:
    """Sealed events in ``seq`` order from ``from_seq``, read a page at a time."""
    after = from_seq - 1
    while found := read_events(ledger, after, page):
        yield from found
        after = found[-1].seq or after


def head(ledger: SqlLedger) -> int:
    """The highest sealed ``seq`` (0: none)."""
    with read_only(ledger.engine) as conn:
        return int(conn.execute(select(func.max(events.c.seq))).scalar() or 0)


def first_sealed(ledger: SqlLedger) -> tuple[int, str] | None:
    """(seq, prev_hash) of the oldest sealed event the database holds, if any."""
    query = select(events.c.seq, events.c.prev_hash).where(events.c.seq.is_not(None)).order_by(events.c.seq)
    with read_only(ledger.engine) as conn:
        row = conn.execute(query.limit(1)).first()
    return (int(row[0]), str(row[1])) if row else None


def _concerns(scope: str) -> ColumnElement[bool]:
    """The event's space-separated scopes include ``scope`` as a whole word (LIKE wildcards literal)."""
    padded = literal(" ") + events.c.scopes + literal(" ")
    escaped = scope.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return padded.like(f"% {escaped} %", escape="\\")


def unsealed(ledger: SqlLedger) -> int:
    """How many committed events are not sealed yet (not covered by the chain)."""
    with read_only(ledger.engine) as conn:
        return int(conn.execute(select(func.count()).select_from(events).where(events.c.seq.is_(None))).scalar_one())


def read_events(
    ledger: SqlLedger,
    after: int,
    limit: int,
    types: tuple[str, ...] = (),
    scope: str | None = None,
    user: str | None = None,
    *,
    newest_first: bool = False,
) -> list[Event]:
    """Sealed events with ``seq`` > ``after`` in order, at most ``limit``: of the given ``types`` (all when
    empty), concerning ``scope`` (one of the space-separated scopes of the event) when given, and
    concerning user ``user`` or caused by them (the actor ``user:<user>``) when given."""
    query = select(events).where(events.c.seq > after)
    if types:
        query = query.where(events.c.type.in_(types))
    if scope is not None:
        query = query.where(_concerns(scope))
    if user is not None:
        query = query.where(or_(_concerns(f"user:{user}"), events.c.actor == f"user:{user}"))
    with read_only(ledger.engine) as conn:
        order = events.c.seq.desc() if newest_first else events.c.seq
        rows = conn.execute(query.order_by(order).limit(limit)).mappings()
        return [event_from_row(row) for row in rows]
