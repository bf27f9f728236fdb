"""The admission queue as callers see it: where a held request stands, and what waits.

A request's *position* is its place among the requests held by the same quotas (its group), in admission
order (:mod:`.admission_order`): "3" means two requests will take the next slots of that limit before it.
That is what a user can act on; a place in the whole queue would mix requests waiting for other users'
slots. Fair-share factors are cached per process and recomputed every ``recalc_seconds`` or when the
policy changes (Slurm's PriorityCalcPeriod), as every replica computes positions.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from hpcpolicy.ledger.queue import QueuedRequest, QueueState
from hpcpolicy.policy.schema.fairshare import PriorityWeights
from hpcpolicy.service.admission_order import entry_priority, ranked
from hpcpolicy.service.context import Context
from hpcpolicy.service.fairshare import FairShares

_EPOCH = datetime.min.replace(tzinfo=UTC)


class Factors:
    """Fair-share factors by association, recomputed every ``recalc`` or when the policy changes."""

    def __init__(self, ctx: Context, fairshare: FairShares, recalc: timedelta):
        self.ctx, self.fairshare, self.recalc = ctx, fairshare, recalc
        self._factors: dict[tuple[str | None, str], float] = {}
        self._at = _EPOCH
        self._version = ""

    def of(self, entry: QueuedRequest) -> float:
        return self._factors.get((entry.project, entry.user_id), 1.0)

    def refresh(self, now: datetime) -> None:
        version = self.ctx.policies.current.snapshot.version
        if now - self._at < self.recalc and version == self._version:
            return
        factors: dict[tuple[str | None, str], float] = {}
        for scope, factor in self.fairshare.factors(now).items():
            head, _, user = scope.rpartition("user:")
            factors[(head.removeprefix("project:").removesuffix("/") or None, user)] = factor
        self._factors, self._at, self._version = factors, now, version


@dataclass(frozen=True, slots=True)
class Standing:
    """A held request with its place: ``position`` in its group (1: next), its ``priority`` now."""

    entry: QueuedRequest
    position: int | None
    priority: int | None


class QueueView:
    def __init__(self, ctx: Context, fairshare: FairShares):
        self.ctx = ctx
        self.factors = Factors(ctx, fairshare, timedelta(seconds=ctx.queue.recalc_seconds))

    def standing(self, entry: QueuedRequest) -> Standing:
        """``entry`` with its position and priority (None for both once it is no longer held)."""
        if entry.state is not QueueState.QUEUED:
            return Standing(entry, None, None)
        now = self.ctx.clock()
        self.factors.refresh(now)
        with self.ctx.ledger.session() as tx:
            group = tx.queued(group=entry.group)
        order = ranked(group, self.factors.of, self._weights(), now, {})
        position = next((k for k, e in enumerate(order, 1) if e.id == entry.id), len(order) + 1)
        return Standing(entry, position, entry_priority(entry, self.factors.of(entry), self._weights(), now))

    def waiting(self, user: str | None = None, limit: int = 1000) -> list[Standing]:
        """Held requests (of ``user``) in admission order, each with its position in its group."""
        now = self.ctx.clock()
        self.factors.refresh(now)
        with self.ctx.ledger.session() as tx:
            entries = tx.queued(user=user, limit=limit)
        weights = self._weights()
        out: list[Standing] = []
        seen: dict[str, int] = {}
        for entry in ranked(entries, self.factors.of, weights, now, {}):
            seen[entry.group] = seen.get(entry.group, 0) + 1
            position = seen[entry.group] if user is None else None
            out.append(Standing(entry, position, entry_priority(entry, self.factors.of(entry), weights, now)))
        return out

    def _weights(self) -> PriorityWeights:
        return self.ctx.policies.current.snapshot.policy.fairshare.priority
