"""Holding a request instead of refusing it: when it may wait, and what is stored while it does.

A request may wait only when every rule that refuses it is transient (:data:`~hpcpolicy.engine.codes.TRANSIENT`:
a concurrency cap on jobs, GPUs or a service's runs, also on a slice of the machine). A budget, an access
rule or a per-job cap still denies at once: no amount of waiting would change the answer.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Protocol

from hpcpolicy.engine import Decision, PolicySnapshot, Request
from hpcpolicy.engine.codes import TRANSIENT, Code
from hpcpolicy.engine.decision import Violation
from hpcpolicy.ledger.queue import QueuedRequest
from hpcpolicy.service.context import QueueSettings
from hpcpolicy.service.errors import InvalidInput
from hpcpolicy.service.policy_store import ActivePolicy


@dataclass(frozen=True, slots=True)
class Hold:
    """How a caller wants to wait: for ``ttl`` at most (None: the default), told at ``callback_url`` too."""

    ttl: timedelta | None = None
    callback_url: str | None = None

    def checked(self, settings: QueueSettings) -> Hold:
        """This hold within the settings: a TTL up to the maximum, a callback only to an allowed URL."""
        if self.ttl is not None and not timedelta(0) < self.ttl <= settings.max_ttl:
            raise InvalidInput(f"queue_ttl_seconds must be between 1 and {int(settings.max_ttl.total_seconds())}")
        url = self.callback_url
        if url is not None and not any(url.startswith(prefix) for prefix in settings.callback_prefixes):
            allowed = ", ".join(settings.callback_prefixes) or "none are configured (HPCPOLICY_QUEUE_CALLBACK_URLS)"
            raise InvalidInput(f"callback_url must start with an allowed prefix: {allowed}")
        return self


def holdable(decision: Decision) -> bool:
    """Refused, and only by rules that a freed slot can lift."""
    return not decision.allow and bool(decision.violations) and all(v.code in TRANSIENT for v in decision.violations)


def blocked_by(decision: Decision) -> tuple[str, ...]:
    """The quota ids holding the request (sorted, once each)."""
    return tuple(sorted({v.scope for v in decision.violations}))


def held_entry(
    decision_id: str,
    now: datetime,
    caller: str,
    request: Request,
    decision: Decision,
    active: ActivePolicy,
    key: str | None,
    job_id: str | None,
    hold: Hold,
    settings: QueueSettings,
) -> QueuedRequest:
    return QueuedRequest(
        id=decision_id,
        at=now,
        expires_at=now + (hold.ttl or settings.ttl),
        caller=caller,
        user_id=request.user_id,
        project=decision.project,
        service=request.service,
        request=request.model_dump(mode="json"),
        blocked_by=blocked_by(decision),
        decision=decision.to_dict(),
        size=job_size(request, decision, active.snapshot),
        key=key,
        job_id=job_id,
        callback_url=hold.callback_url,
    )


def job_size(request: Request, decision: Decision, snapshot: PolicySnapshot) -> float:
    """The job's fraction of its partition: of its GPUs for a GPU job, else of its CPUs (0 without a route)."""
    route = decision.route
    part = snapshot.partition(route.cluster, route.partition) if route else None
    if part is None:
        return 0.0
    nodes = part.spec.nodes
    if request.gpus and nodes.gpus:
        return min(request.gpus / (nodes.gpus * nodes.count), 1.0)
    return min(request.cpus / (nodes.cpus * nodes.count), 1.0)


def concurrency_limits(decision: Decision) -> tuple[str, ...]:
    """The quotas an admitted job takes a concurrency slot of (those with ``jobs`` or ``gpus`` balances)."""
    return tuple(quota for quota, balances in decision.remaining.items() if "jobs" in balances or "gpus" in balances)


class Waiting(Protocol):
    """Who knows which limits held requests wait for: a ledger session, or the replay's admission queue."""

    def waited_for(self, quota_ids: list[str]) -> list[str]: ...


def behind_the_queue(tx: Waiting, decision: Decision) -> Decision:
    """An admissible ``decision`` made a wait when held requests wait for a slot of a limit it would use:
    a slot freed is theirs to take in priority order, not the first newcomer's (a new request then waits
    with them, and the dispatcher may still pick it first). Otherwise ``decision`` unchanged."""
    if not decision.allow:
        return decision
    limits = concurrency_limits(decision)
    waited = tx.waited_for(list(limits)) if limits else []
    if not waited:
        return decision
    ahead = tuple(Violation(Code.QUEUE_WAITING, "requests held before this one wait for a slot of this limit",
                            quota_id) for quota_id in waited)  # fmt: skip
    return replace(decision, allow=False, violations=ahead)


def queue_full(request: Request, settings: QueueSettings) -> Violation:
    return Violation(
        Code.QUEUE_FULL,
        f"{request.user_id} already has {settings.max_per_user} requests waiting; this one is refused",
        f"user:{request.user_id}",
        settings.max_per_user,
        1,
        0,
    )
