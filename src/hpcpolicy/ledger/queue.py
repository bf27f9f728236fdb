"""Held requests: the admission queue's entries, as the ledger stores them.

A request refused only by transient limits (:data:`hpcpolicy.engine.codes.TRANSIENT`) may be *held*
instead of denied: it is stored here with the quota ids that hold it (``blocked_by``), the answer it got
(estimate, route, violations) and when it stops waiting (``expires_at``). The dispatcher later decides it
again; when it is admitted, its lien and decision record are written in the same transaction that marks it
``admitted``, under the id the caller was given when it was held. Rows stay after they are resolved: the
outcome is what a long-poll or a callback reads.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, fields, replace
from datetime import datetime
from enum import StrEnum
from typing import Any


class QueueState(StrEnum):
    QUEUED = "queued"  # waiting for a slot
    ADMITTED = "admitted"  # decided again and allowed: its lien is taken
    DENIED = "denied"  # decided again and refused by a rule that waiting cannot lift (a budget ran out)
    CANCELLED = "cancelled"  # withdrawn by its owner or an admin
    EXPIRED = "expired"  # waited past its TTL


RESOLVED = frozenset({QueueState.ADMITTED, QueueState.DENIED, QueueState.CANCELLED, QueueState.EXPIRED})


@dataclass(frozen=True, slots=True)
class QueuedRequest:
    """One held request. ``id`` is the decision id its outcome will carry; ``at`` when it was first held
    (its age counts from there); ``size`` its fraction of its partition (the priority's size factor)."""

    id: str
    at: datetime
    expires_at: datetime
    caller: str
    user_id: str
    project: str | None
    service: str | None
    request: dict[str, Any]
    blocked_by: tuple[str, ...]
    decision: dict[str, Any]
    size: float = 0.0
    key: str | None = None
    job_id: str | None = None
    callback_url: str | None = None
    state: QueueState = QueueState.QUEUED
    resolved_at: datetime | None = None
    seq: int = 0  # the store's insertion order (0 until stored)
    callback_attempts: int = 0  # failed deliveries of the outcome to ``callback_url`` so far
    group: str = field(init=False, repr=False, compare=False)
    """What holds it, as one short key: requests held by the same quotas wait for the same slots."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "group", blocked_key(self.blocked_by))

    def resolved(self, state: QueueState, at: datetime, decision: dict[str, Any] | None = None) -> QueuedRequest:
        return replace(self, state=state, resolved_at=at, decision=self.decision if decision is None else decision)

    def still_held(self, blocked_by: tuple[str, ...], decision: dict[str, Any]) -> QueuedRequest:
        return replace(self, blocked_by=blocked_by, decision=decision)


def init_fields(entry: QueuedRequest) -> dict[str, Any]:
    """The entry's fields as its constructor takes them (the derived ``group`` left out)."""
    return {f.name: getattr(entry, f.name) for f in fields(entry) if f.init}


def blocked_key(blocked_by: tuple[str, ...] | list[str]) -> str:
    """A fixed-length key for a set of quota ids (ids are up to 400 characters; a request may have several)."""
    return hashlib.sha1("\n".join(sorted(blocked_by)).encode(), usedforsecurity=False).hexdigest()


def quota_scope(quota_id: str) -> str:
    """The scope a quota id belongs to: ``project:p#gpu`` → ``project:p``, ``user:u#per_user:gpu`` → ``user:u``."""
    return quota_id.partition("#")[0].partition("@")[0]
