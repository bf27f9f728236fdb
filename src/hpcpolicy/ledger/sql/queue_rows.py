"""The admission queue's table, read and written in a ledger session (:mod:`hpcpolicy.ledger.queue`).

A mixin of :class:`~hpcpolicy.ledger.sql.ledger.SqlSession`: queue changes commit with the lien and the
decision record they go with. Every state change records its audit event in the same transaction.
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy import Connection, delete, func, insert, select, update
from sqlalchemy.engine import Dialect

from hpcpolicy.ledger.events import Event, queue_event
from hpcpolicy.ledger.queue import RESOLVED, QueuedRequest, QueueState, blocked_key, init_fields
from hpcpolicy.ledger.sql.driver import DriverStatement, compiled, fetch
from hpcpolicy.ledger.sql.rows import from_db, in_list, to_db
from hpcpolicy.ledger.sql.tables import queue, queue_blocks
from hpcpolicy.observability.logs import request_id

_QUEUED = QueueState.QUEUED.value


class QueueRows:
    if TYPE_CHECKING:
        conn: Connection
        audit: bool

        def record(self, event: Event) -> None: ...

    def add_queued(self, entry: QueuedRequest) -> QueuedRequest:
        """Store a newly held request (DuplicateKey on a used idempotency key); the entry with its ``seq``."""
        result = self.conn.execute(insert(queue), _row(entry))
        key = result.inserted_primary_key
        assert key is not None
        stored = QueuedRequest(**{**init_fields(entry), "seq": int(key[0])})
        self._block(stored)
        if self.audit:
            self.record(queue_event(stored, stored.caller, request_id.get()))
        return stored

    def get_queued(self, entry_id: str, *, lock: bool = False) -> QueuedRequest | None:
        query = select(queue).where(queue.c.id == entry_id)
        row = self.conn.execute(query.with_for_update() if lock else query).mappings().first()
        return _entry(row) if row else None

    def find_queued(self, key: str) -> QueuedRequest | None:
        row = self.conn.execute(select(queue).where(queue.c.key == key)).mappings().first()
        return _entry(row) if row else None

    def update_queued(self, entry: QueuedRequest, actor: str | None = None) -> bool:
        """Write a held request's new state (or what holds it now), only if it is still held: False when
        someone resolved it first (a cancel racing an admission; the caller's transaction should roll back)."""
        values: dict[str, Any] = {
            "state": entry.state.value,
            "blocked_by": orjson.dumps(list(entry.blocked_by)).decode(),
            "blocked_key": entry.group,
            "decision": orjson.dumps(entry.decision).decode(),
            "resolved_at": to_db(entry.resolved_at),
        }
        if entry.state in RESOLVED and entry.callback_url:
            values["callback_due"] = to_db(entry.resolved_at)
        result = self.conn.execute(
            update(queue).where(queue.c.id == entry.id, queue.c.state == _QUEUED).values(**values)
        )
        if not result.rowcount:
            return False
        self.conn.execute(delete(queue_blocks).where(queue_blocks.c.entry_id == entry.id))
        if entry.state is QueueState.QUEUED:
            self._block(entry)
        if self.audit and entry.state in RESOLVED:
            self.record(queue_event(entry, actor, request_id.get()))
        return True

    def queued(
        self, after: int = 0, limit: int = 10_000, user: str | None = None, group: str | None = None
    ) -> list[QueuedRequest]:
        """Held requests with ``seq`` > ``after``, in arrival order (of ``user``, of one ``group`` when given)."""
        query = select(queue).where(queue.c.state == _QUEUED, queue.c.seq > after)
        if user is not None:
            query = query.where(queue.c.user_id == user)
        if group is not None:
            query = query.where(queue.c.blocked_key == group)
        return [_entry(row) for row in self.conn.execute(query.order_by(queue.c.seq).limit(limit)).mappings()]

    def waited_for(self, quota_ids: list[str]) -> list[str]:
        """Those of ``quota_ids`` a held request waits for."""
        if not quota_ids:
            return []
        keys = {blocked_key([q]): q for q in quota_ids}
        values = {f"key_{k}": key for k, key in enumerate(keys)}
        return sorted(keys[key] for key, in fetch(self.conn, _waited_for(self.conn.dialect, len(keys)), values))

    def _block(self, entry: QueuedRequest) -> None:
        rows = [{"quota_key": blocked_key([q]), "entry_id": entry.id} for q in entry.blocked_by]
        if rows:
            self.conn.execute(insert(queue_blocks), rows)

    def queued_count(self, user: str) -> int:
        query = select(func.count()).select_from(queue).where(queue.c.state == _QUEUED, queue.c.user_id == user)
        return int(self.conn.execute(query).scalar_one())

    def callbacks_due(self, now: datetime, limit: int = 100) -> list[QueuedRequest]:
        """Resolved requests whose outcome is due to be sent to their callback URL."""
        query = select(queue).where(queue.c.callback_due <= to_db(now)).order_by(queue.c.callback_due).limit(limit)
        return [_entry(row) for row in self.conn.execute(query).mappings()]

    def set_callback(self, entry_id: str, due: datetime | None, attempts: int) -> None:
        """After a delivery attempt: the next one (None: delivered, or given up) and the failures so far."""
        self.conn.execute(
            update(queue).where(queue.c.id == entry_id).values(callback_due=to_db(due), callback_attempts=attempts)
        )


@lru_cache(maxsize=32)
def _waited_for(dialect: Dialect, count: int) -> DriverStatement:
    """The held requests' quota keys among ``count`` keys, compiled once per count (every held-capable
    admission asks: Slurm's submit hook, ``queue: true``; SQLAlchemy's execution cost it more than the read)."""
    c = queue_blocks.c
    return compiled(select(c.quota_key).where(in_list(c.quota_key, "key", count, "")).distinct(), dialect)


def _row(entry: QueuedRequest) -> dict[str, Any]:
    return {
        "id": entry.id,
        "key": entry.key,
        "at": to_db(entry.at),
        "expires_at": to_db(entry.expires_at),
        "caller": entry.caller,
        "user_id": entry.user_id,
        "project": entry.project,
        "service": entry.service,
        "job_id": entry.job_id,
        "request": orjson.dumps(entry.request).decode(),
        "blocked_by": orjson.dumps(list(entry.blocked_by)).decode(),
        "blocked_key": entry.group,
        "decision": orjson.dumps(entry.decision).decode(),
        "size": entry.size,
        "state": entry.state.value,
        "resolved_at": to_db(entry.resolved_at),
        "callback_url": entry.callback_url,
        "callback_attempts": entry.callback_attempts,
    }


def _entry(row: Any) -> QueuedRequest:
    return QueuedRequest(
        id=row["id"],
        at=from_db(row["at"]) or row["at"],
        expires_at=from_db(row["expires_at"]) or row["expires_at"],
        caller=row["caller"],
        user_id=row["user_id"],
        project=row["project"],
        service=row["service"],
        request=orjson.loads(row["request"]),
        blocked_by=tuple(orjson.loads(row["blocked_by"])),
        decision=orjson.loads(row["decision"]),
        size=float(row["size"]),
        key=row["key"],
        job_id=row["job_id"],
        callback_url=row["callback_url"],
        state=QueueState(row["state"]),
        resolved_at=from_db(row["resolved_at"]),
        seq=int(row["seq"]),
        callback_attempts=int(row["callback_attempts"]),
    )
