"""The order in which held requests are admitted (pure: entries, factors and the time in, an order out).

Priority is :func:`hpcpolicy.engine.priority.priority` — fair share, age, size with the policy's weights —
taken as a whole number, as Slurm's job priority is, so that requests whose factors barely differ tie.
Ties go round robin: the user admitted least recently first (never admitted counts as longest ago), then
the request held first. So a user with twenty requests and one with two, equal in fair share and age,
take turns instead of the first user's twenty going in a row.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime

from hpcpolicy.engine.priority import priority
from hpcpolicy.ledger.queue import QueuedRequest
from hpcpolicy.policy.schema.fairshare import PriorityWeights

NEVER = datetime.min.replace(tzinfo=UTC)


def entry_priority(entry: QueuedRequest, factor: float, weights: PriorityWeights, now: datetime) -> int:
    """The request's priority now: whole units of :func:`~hpcpolicy.engine.priority.priority`."""
    return whole_priority(weights, factor, (now - entry.at).total_seconds(), entry.size)


def whole_priority(weights: PriorityWeights, factor: float, waited_seconds: float, size: float) -> int:
    """:func:`~hpcpolicy.engine.priority.priority` in whole units, as the queue (and the replay) rank by it."""
    return math.floor(priority(weights, factor, waited_seconds, size))


def order_key(
    entry: QueuedRequest, factor: float, weights: PriorityWeights, now: datetime, last_admitted: Mapping[str, datetime]
) -> tuple[int, datetime, int]:
    """What admission order sorts by: priority descending, then the user admitted least recently, then arrival."""
    return -entry_priority(entry, factor, weights, now), last_admitted.get(entry.user_id, NEVER), entry.seq


def ranked(
    entries: Iterable[QueuedRequest],
    factor: Callable[[QueuedRequest], float],
    weights: PriorityWeights,
    now: datetime,
    last_admitted: Mapping[str, datetime],
) -> list[QueuedRequest]:
    """``entries`` in admission order: priority descending, then round robin among users, then arrival."""

    return sorted(entries, key=lambda entry: order_key(entry, factor(entry), weights, now, last_admitted))
