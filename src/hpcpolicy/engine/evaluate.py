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

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from types import MappingProxyType

from hpcpolicy.engine.codes import Code
from hpcpolicy.engine.decision import Decision, Estimate, RejectedRoute, Route, Violation
from hpcpolicy.engine.estimate import allocation
from hpcpolicy.engine.opening import Opening, open_plan, open_plan_alike, opening
from hpcpolicy.engine.partitionref import PartitionRef
from hpcpolicy.engine.records import fast_init
from hpcpolicy.engine.request import Request
from hpcpolicy.engine.route import route
from hpcpolicy.engine.rules.account import effective_roles, resolve_account
from hpcpolicy.engine.rules.guards import guard_violations
from hpcpolicy.engine.rules.path import quotas_on_path
from hpcpolicy.engine.rules.quotas import Used, check_quotas, quota_violations
from hpcpolicy.engine.snapshot import PolicySnapshot, QuotaRef
from hpcpolicy.engine.usage import EMPTY_USAGE, Active, Amounts, UsageSnapshot


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
    gpus: int
    """GPUs the job holds (its request's, or whole nodes' on an exclusive partition): what concurrency caps count."""
    usage_quotas: tuple[QuotaRef, ...]
    """What the usage snapshot must cover: ``quotas``, children's uses of parents' shared quotas, and the
    quotas of the ``fallbacks`` (a ledger reads these; the replay's fast path only when ``simple``)."""
    fallbacks: Mapping[str, Plan]
    """quota id → the plan on the partition its ``on_exhausted`` sends the job to."""
    simple: bool
    """No shares, fallbacks or opening hours: ``decide_balances`` (usage per quota, and the previous window
    of quotas with carry-over) suffices."""
    opening: Opening | None = None  # the route's opening hours and fallbacks (None: always open to the caller)


def prepare(request: Request, snap: PolicySnapshot, *, reroute: bool = True) -> Plan:
    """Everything about ``request`` that no balance and no clock can change (``reroute``: also plan where
    ``on_exhausted`` would send it)."""
    project, path, violations = resolve_account(request, snap)
    roles = effective_roles(request, snap, project)  # roles held in a project count for its jobs only
    routing = route(request, snap, roles, project)
    violations += routing.violations
    est = routing.estimate
    violations += guard_violations(request, snap.policy.guards, roles, est.cost)
    part = routing.partition
    quotas = quotas_on_path(request, snap, project, part)
    extra, fallbacks = _edges(request, snap, quotas, part, reroute)
    held = None if routing.hours is None else opening(routing, prepare, request, snap, quotas + extra)
    if held is not None:
        extra += held.quotas
    # positional, in field order (keywords cost a third more, and a plan is made per request)
    return Plan(
        request,
        snap,
        project,
        path,
        tuple(violations),
        Route(part.cluster, part.name, routing.reason) if part is not None else None,
        est,
        routing.rejected,
        quotas,
        allocation(request, part)[1],
        quotas + extra if extra else quotas,
        MappingProxyType(fallbacks) if fallbacks else _NO_FALLBACKS,
        not extra and not fallbacks and held is None,
        held,
    )


_NO_FALLBACKS: Mapping[str, Plan] = MappingProxyType({})
_NO_EDGES: tuple[tuple[QuotaRef, ...], dict[str, Plan]] = ((), {})


def _edges(
    request: Request, snap: PolicySnapshot, quotas: tuple[QuotaRef, ...], part: PartitionRef | None, reroute: bool
) -> tuple[tuple[QuotaRef, ...], dict[str, Plan]]:
    """What soft quotas need beyond the quotas themselves: each child's use of a parent's shared quota
    (a ref per share, counting the child in the parent's window and slice), and the plans on the
    partition or with the QOS ``on_exhausted`` names (planned once here, decided only if a budget refuses
    the job; the exhausted budget itself no longer binds a job it sent there)."""
    if all(ref.soft is None for ref in quotas):
        return _NO_EDGES
    extra: list[QuotaRef] = []
    fallbacks: dict[str, Plan] = {}
    for ref in quotas:
        soft = ref.soft
        if soft is None:
            continue
        extra += ref.share_refs
        if not reroute or part is None or (soft.reroute is None and soft.reroute_qos is None):
            continue
        if soft.reroute is not None:
            if soft.reroute == part.name:
                continue
            target = request.model_copy(update={"partition": soft.reroute, "cluster": part.cluster})
        else:
            if soft.reroute_qos == request.qos:
                continue
            target = request.model_copy(update={"qos": soft.reroute_qos, "cluster": part.cluster})
        fallback = prepare(target, snap, reroute=False)
        # the budget that sends the job there binds it no longer: it runs as overrun (and is counted)
        fallbacks[ref.id] = replace(fallback, quotas=tuple(q for q in fallback.quotas if q.id != ref.id))
        extra += fallback.usage_quotas
    return tuple(extra), fallbacks


def decide(plan: Plan, usage: UsageSnapshot = EMPTY_USAGE, *, now: datetime) -> Decision:
    """The decision on a prepared request against ``usage`` at ``now`` (covering ``plan.usage_quotas``)."""
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    if plan.opening is not None:
        plan = open_plan(plan, now)
    remaining: dict[str, dict[str, float]] = {}
    warnings: list[Violation] = []
    found = quota_violations(plan.quotas, plan.estimate, plan.gpus, usage, now, remaining, plan.path, warnings)
    if found and plan.fallbacks:
        rerouted = _reroute(plan, found, usage, now)
        if rerouted is not None:
            return rerouted
    return _decision(plan, found, remaining, warnings)


def decide_balances(
    plan: Plan,
    used: Sequence[Used],
    active: Sequence[Active],
    *,
    now: datetime,
    previous: Mapping[str, Amounts] | None = None,
) -> Decision:
    """:func:`decide` with the usage given per quota of ``plan.quotas``, in order (see :func:`check_quotas`),
    for a ``simple`` plan (a ledger that keeps its sums as floats, the trace replay's, spares building a
    :class:`UsageSnapshot`).

    The same decision as ``decide(plan, usage)`` when ``used[k]`` holds the fields of
    ``usage.consumed[plan.quotas[k].id]``, ``active[k]`` is ``usage.active[plan.quotas[k].counter]`` and
    ``previous`` is ``usage.previous`` (what quotas with carry-over settled in their previous window).
    """
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    if plan.opening is not None:
        plan = open_plan_alike(plan, now)
    remaining: dict[str, dict[str, float]] = {}
    warnings: list[Violation] = []
    usage = UsageSnapshot(previous=previous) if previous else EMPTY_USAGE
    found = check_quotas(
        plan.quotas, plan.estimate, plan.gpus, used, active, now, remaining, plan.path, usage, warnings
    )
    return _decision(plan, found, remaining, warnings)


_BUDGET_CODES = frozenset({Code.QUOTA_CPU_HOURS, Code.QUOTA_GPU_HOURS, Code.QUOTA_COST, Code.QUOTA_SHARE})


def _reroute(plan: Plan, found: list[Violation], usage: UsageSnapshot, now: datetime) -> Decision | None:
    """When only budgets with ``on_exhausted`` refused the job (and nothing else did), the decision on the
    first such budget's target partition, admitted there with a warning; else None (the denial stands)."""
    if plan.violations or any(v.code not in _BUDGET_CODES or v.scope not in plan.fallbacks for v in found):
        return None
    quota_id = found[0].scope
    fallback = decide(plan.fallbacks[quota_id], usage, now=now)
    if not fallback.allow or fallback.route is None:
        return None
    target = plan.fallbacks[quota_id].request.qos or fallback.route.partition
    where = f"qos {target}" if plan.fallbacks[quota_id].request.qos != plan.request.qos else target
    note = Violation(
        Code.QUOTA_REROUTED, f"{quota_id} is exhausted ({found[0].message}); sent to {where} instead", quota_id,
        requested=target,
    )  # fmt: skip
    route = replace(fallback.route, reason=f"on_exhausted of {quota_id}")
    return replace(fallback, route=route, warnings=(note, *fallback.warnings))


def _decision(
    plan: Plan, found: list[Violation], remaining: dict[str, dict[str, float]], warnings: list[Violation]
) -> Decision:
    violations = plan.violations + tuple(found) if found else plan.violations
    # allow, violations, route, estimate, remaining, policy_version, project, account_path, rejected_routes,
    # warnings (positional: keywords cost a third more, and this is built for every decision)
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
        tuple(warnings) if warnings else (),
    )


def evaluate(request: Request, snap: PolicySnapshot, usage: UsageSnapshot = EMPTY_USAGE, *, now: datetime) -> Decision:
    return decide(prepare(request, snap), usage, now=now)
