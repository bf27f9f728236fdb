"""The decision function: (request, policy snapshot, usage snapshot, time) → decision. No I/O.

Every rule runs and every failure is reported; ``allow`` is true exactly when none failed. The caller
supplies ``now`` (OPA's ``WithTime``): the engine reads no clock, so replays and tests are exact.

A decision has two halves. What depends on the request and the policy alone — the account path, the
route, the estimate, the guards and the quotas on the path — is :func:`prepare`-d into a :class:`Plan`;
what depends on usage and time — the quota and concurrency checks — is :func:`decide`-d against it.
:func:`evaluate` is the two in a row. A caller that sees the same request many times against one
policy snapshot (the trace replay: a trace repeats a few hundred job shapes thousands of times) keeps
the plan and pays only for the second half; the decision is the same by construction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from hpcpolicy.engine.decision import Decision, Estimate, RejectedRoute, Route, Violation
from hpcpolicy.engine.opening import Opening, open_plan, open_plan_alike, opening
from hpcpolicy.engine.records import fast_init
from hpcpolicy.engine.request import Request
from hpcpolicy.engine.route import route
from hpcpolicy.engine.rules.account import resolve_account
from hpcpolicy.engine.rules.guards import guard_violations
from hpcpolicy.engine.rules.path import quotas_on_path
from hpcpolicy.engine.rules.quotas import Used, check_quotas, quota_violations
from hpcpolicy.engine.snapshot import PolicySnapshot, QuotaRef
from hpcpolicy.engine.usage import EMPTY_USAGE, Active, UsageSnapshot


def effective_roles(request: Request, snap: PolicySnapshot) -> frozenset[str]:
    """Roles the caller asserted (already vetted by the identity layer) plus those the policy grants."""
    granted = snap.user_roles.get(request.user_id)
    if granted is None:
        return frozenset(request.roles)
    return granted.union(request.roles) if request.roles else granted


@fast_init
@dataclass(frozen=True, slots=True)
class Plan:
    """The usage-independent half of a decision on ``request`` under ``snap`` (immutable, reusable).

    ``violations`` are the account, routing and guard failures, in the order :func:`evaluate` reports
    them; ``quotas`` are the quotas on the account path that :func:`decide` checks against usage.
    """

    request: Request
    snap: PolicySnapshot
    project: str | None
    path: tuple[str, ...]
    violations: tuple[Violation, ...]
    route: Route | None
    estimate: Estimate
    rejected: tuple[RejectedRoute, ...]
    quotas: tuple[QuotaRef, ...]
    opening: Opening | None = None  # the route's opening hours and fallbacks (None: always open to the caller)


def prepare(request: Request, snap: PolicySnapshot) -> Plan:
    """Everything about ``request`` that no balance and no clock can change."""
    roles = effective_roles(request, snap)
    project, path, violations = resolve_account(request, snap)
    routing = route(request, snap, roles, project)
    violations += routing.violations
    est = routing.estimate
    violations += guard_violations(request, snap.policy.guards, roles, est.cost)
    part = routing.partition
    return Plan(
        request=request,
        snap=snap,
        project=project,
        path=path,
        violations=tuple(violations),
        route=Route(part.cluster, part.name, routing.reason) if part is not None else None,
        estimate=est,
        rejected=routing.rejected,
        quotas=quotas_on_path(request, snap, project, part),
        opening=None if routing.hours is None else opening(routing, prepare, request, snap, project),
    )


def decide(plan: Plan, usage: UsageSnapshot = EMPTY_USAGE, *, now: datetime) -> Decision:
    """The decision on a prepared request against ``usage`` at ``now``."""
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    if plan.opening is not None:
        plan = open_plan(plan, now)
    remaining: dict[str, dict[str, float]] = {}
    found = quota_violations(plan.quotas, plan.estimate, plan.request.gpus, usage, now, remaining)
    return _decision(plan, found, remaining)


def decide_balances(plan: Plan, used: Sequence[Used], active: Sequence[Active], *, now: datetime) -> Decision:
    """:func:`decide` with the usage given per quota of ``plan.quotas``, in order (see :func:`check_quotas`).

    The same decision as ``decide(plan, usage)`` when ``used[k]`` holds the fields of
    ``usage.consumed[plan.quotas[k].id]`` and ``active[k]`` is ``usage.active[plan.quotas[k].scope]``;
    it spares a ledger that keeps its sums as floats (the trace replay's) building that snapshot.
    """
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    if plan.opening is not None:
        plan = open_plan_alike(plan, now)
    remaining: dict[str, dict[str, float]] = {}
    found = check_quotas(plan.quotas, plan.estimate, plan.request.gpus, used, active, now, remaining)
    return _decision(plan, found, remaining)


def _decision(plan: Plan, found: list[Violation], remaining: dict[str, dict[str, float]]) -> Decision:
    violations = plan.violations + tuple(found) if found else plan.violations
    # allow, violations, route, estimate, remaining, policy_version, project, account_path, rejected_routes
    # (positional: keywords cost a third more, and this is built for every decision)
    return Decision(
        not violations,
        violations,
        plan.route,
        plan.estimate,
        remaining,
        plan.snap.version,
        plan.project,
        plan.path,
        plan.rejected,
    )


def evaluate(request: Request, snap: PolicySnapshot, usage: UsageSnapshot = EMPTY_USAGE, *, now: datetime) -> Decision:
    return decide(prepare(request, snap), usage, now=now)
