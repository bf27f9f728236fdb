"""The admission queue kept in memory: the same contract as :mod:`hpcpolicy.ledger.sql.queue_rows`."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from hpcpolicy.ledger.base import DuplicateKey
from hpcpolicy.ledger.queue import RESOLVED, QueuedRequest, QueueState


class MemoryQueue:
    def __init__(self) -> None:
        self._queue: dict[str, QueuedRequest] = {}
        self._queue_keys: dict[str, str] = {}
        self._callbacks: dict[str, datetime] = {}

    def add_queued(self, entry: QueuedRequest) -> QueuedRequest:
        if entry.id in self._queue or (entry.key is not None and entry.key in self._queue_keys):
            raise DuplicateKey(f"queue entry {entry.id} or key {entry.key} exists")
        stored = replace(entry, seq=len(self._queue) + 1)
        self._queue[entry.id] = stored
        if entry.key is not None:
            self._queue_keys[entry.key] = entry.id
        return stored

    def get_queued(self, entry_id: str, *, lock: bool = False) -> QueuedRequest | None:
        return self._queue.get(entry_id)

    def find_queued(self, key: str) -> QueuedRequest | None:
        found = self._queue_keys.get(key)
        return self._queue[found] if found is not None else None

    def update_queued(self, entry: QueuedRequest, actor: str | None = None) -> bool:
        current = self._queue.get(entry.id)
        if current is None or current.state is not QueueState.QUEUED:
            return False
        self._queue[entry.id] = replace(entry, seq=current.seq)
        if entry.state in RESOLVED and entry.callback_url and entry.resolved_at is not None:
            self._callbacks[entry.id] = entry.resolved_at
        return True

    def queued(
        self, after: int = 0, limit: int = 10_000, user: str | None = None, group: str | None = None
    ) -> list[QueuedRequest]:
        found = [e for e in self._queue.values() if e.state is QueueState.QUEUED and e.seq > after
                 and (user is None or e.user_id == user) and (group is None or e.group == group)]  # fmt: skip
        return sorted(found, key=lambda e: e.seq)[:limit]

    def waited_for(self, quota_ids: list[str]) -> list[str]:
        wanted = set(quota_ids)
        held = [e for e in self._queue.values() if e.state is QueueState.QUEUED]
        return sorted({q for e in held for q in wanted.intersection(e.blocked_by)})

    def queued_count(self, user: str) -> int:
        return sum(1 for e in self._queue.values() if e.state is QueueState.QUEUED and e.user_id == user)

    def callbacks_due(self, now: datetime, limit: int = 100) -> list[QueuedRequest]:
        due = sorted((at, i) for i, at in self._callbacks.items() if at <= now)[:limit]
        return [self._queue[i] for _, i in due]

    def set_callback(self, entry_id: str, due: datetime | None, attempts: int) -> None:
        self._queue[entry_id] = replace(self._queue[entry_id], callback_attempts=attempts)
        if due is None:
            self._callbacks.pop(entry_id, None)
        else:
            self._callbacks[entry_id] = due
