"""The decision function: (request, policy snapshot, usage snapshot, time) → decision. No I/O.

Every rule runs and every failure is reported; ``allow`` is true exactly when none failed. The caller
supplies ``now`` (OPA's ``WithTime``): the engine reads no clock, so replays and tests are exact.
"""

from __future__ import annotations

from datetime import UTC, datetime

from hpcpolicy.engine.decision import Decision, Route
from hpcpolicy.engine.request import Request
from hpcpolicy.engine.route import route
from hpcpolicy.engine.rules.account import quotas_on_path, resolve_account
from hpcpolicy.engine.rules.guards import guard_violations
from hpcpolicy.engine.rules.quotas import quota_violations
from hpcpolicy.engine.snapshot import PolicySnapshot
from hpcpolicy.engine.usage import EMPTY_USAGE, UsageSnapshot


def effective_roles(request: Request, snap: PolicySnapshot) -> frozenset[str]:
    """Roles the caller asserted (already vetted by the identity layer) plus those the policy grants."""
    granted = snap.user_roles.get(request.user_id)
    if granted is None:
        return frozenset(request.roles)
    return granted.union(request.roles) if request.roles else granted


def evaluate(request: Request, snap: PolicySnapshot, usage: UsageSnapshot = EMPTY_USAGE, *, now: datetime) -> Decision:
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    roles = effective_roles(request, snap)
    project, path, violations = resolve_account(request, snap)
    routing = route(request, snap, roles, project)
    violations += routing.violations
    est = routing.estimate
    violations += guard_violations(request, snap.policy.guards, roles, est.cost)
    quotas = quotas_on_path(request, snap, project)
    remaining: dict[str, dict[str, float]] = {}
    violations += quota_violations(quotas, est, request.gpus, usage, now, remaining)
    part = routing.partition
    return Decision(
        allow=not violations,
        violations=tuple(violations),
        route=Route(part.cluster, part.name) if part is not None else None,
        estimate=est,
        remaining=remaining,
        policy_version=snap.version,
        project=project,
        account_path=path,
        rejected_routes=routing.rejected,
    )
