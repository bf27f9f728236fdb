"""The engine's fast paths give exactly what the plain ones gave.

* ``evaluate`` is ``decide(prepare(...))`` and ``decide_balances`` on the same usage as tuples; all three
  equal :func:`reference_evaluate`, the evaluation as written before the split (one pass, routing through
  the cost heap even for one candidate, window names from ``describe``), on random policies and requests;
* :meth:`QuotaRef.bounds` is ``window_bounds`` of its window, for every kind of window and time zone;
* :func:`fast_init` records behave as the dataclasses they are (equality, hashing, ``replace``, pickling,
  frozen), and the decorator refuses the dataclasses it cannot handle.
"""

from __future__ import annotations

import pickle
from dataclasses import FrozenInstanceError, dataclass, field, replace
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hpcpolicy.engine import (
    Active,
    Amounts,
    Code,
    Decision,
    PolicySnapshot,
    Request,
    UsageSnapshot,
    decide,
    decide_balances,
    evaluate,
    prepare,
    window_bounds,
)
from hpcpolicy.engine.decision import Estimate, RejectedRoute, Route, Violation, num
from hpcpolicy.engine.estimate import allocation, estimate, ranking_cost, walltime_for
from hpcpolicy.engine.records import fast_init
from hpcpolicy.engine.route import Routing, _named
from hpcpolicy.engine.rules.account import effective_roles, resolve_account
from hpcpolicy.engine.rules.guards import guard_violations
from hpcpolicy.engine.rules.partition import partition_violations
from hpcpolicy.engine.rules.path import quotas_on_path
from hpcpolicy.engine.rules.quotas import EPSILON
from hpcpolicy.engine.snapshot import METERED, QuotaRef
from hpcpolicy.engine.windows import describe
from hpcpolicy.policy.schema import Quota

from .test_properties import FAST, cases

_CODES = {"cpu_hours": Code.QUOTA_CPU_HOURS, "gpu_hours": Code.QUOTA_GPU_HOURS, "cost": Code.QUOTA_COST}
_LABELS = {"cpu_hours": "CPU-hours", "gpu_hours": "GPU-hours", "cost": "cost"}


def reference_route(request: Request, snap: PolicySnapshot, roles: frozenset[str], project: str | None) -> Routing:
    """Routing written plainly: filter every partition, sort them all by cost, check each in that order."""
    default = snap.policy.defaults.walltime_hours
    if request.cluster is not None and request.cluster not in snap.clusters:
        missing = Violation(
            Code.CLUSTER_UNKNOWN, f"cluster {request.cluster} is not in the policy", f"cluster:{request.cluster}"
        )
        return Routing(None, estimate(request, None, walltime_for(request, None, default)), [missing])
    if request.partition is not None:
        return _named(request, snap, roles, project, default)
    scope = [(i, p) for i, p in enumerate(snap.partitions) if request.cluster in (None, p.cluster)]
    candidates = [(i, p) for i, p in scope if not p.explicit and p.gpu_nodes is (request.gpus > 0)]
    ranked_at = request.walltime_hours or default
    ordered = sorted(candidates, key=lambda c: (ranking_cost(request, c[1], ranked_at), c[0]))
    rejected = []
    for order, part in ordered:
        walltime = walltime_for(request, part, default)
        problems = partition_violations(request, part, roles, project, walltime)
        if not problems:
            reason = "the only candidate" if len(candidates) == 1 else f"cheapest of {len(candidates)} candidates"
            if rejected:
                named = [f"{r.partition} ({', '.join(v.code for v in r.violations)})" for _, r in rejected]
                more = f" and {len(named) - 3} more" if len(named) > 3 else ""
                reason += f"; cheaper rejected: {', '.join(named[:3])}{more}"
            return Routing(part, estimate(request, part, walltime), [], (), reason)
        rejected.append((order, RejectedRoute(part.cluster, part.name, tuple(problems))))
    for order, part in scope:
        if (order, part) in candidates:
            continue
        if part.explicit:
            message = f"{part.name} takes only jobs that name it"
            why = [Violation(Code.ROUTE_EXPLICIT, message, f"partition:{part.name}")]
        elif part.gpu_nodes and not request.gpus:
            message = f"{part.name} has GPU nodes: a job without GPUs runs there only if it names it"
            why = [Violation(Code.ROUTE_GPU_NODES, message, f"partition:{part.name}")]
        else:
            why = partition_violations(request, part, roles, project, walltime_for(request, part, default))
        rejected.append((order, RejectedRoute(part.cluster, part.name, tuple(why))))
    no_fit = Violation(
        Code.ROUTE_NO_FIT,
        f"no partition accepts this job ({len(rejected)} considered; see rejected_routes)",
        f"user:{request.user_id}",
    )
    reasons = tuple(r for _, r in sorted(rejected, key=lambda item: item[0]))
    return Routing(None, estimate(request, None, walltime_for(request, None, default)), [no_fit], reasons)


def reference_quotas(
    quotas: tuple[QuotaRef, ...], gpus: int, est: Estimate, usage: UsageSnapshot, now: datetime
) -> tuple[list[Violation], dict[str, dict[str, float]]]:
    """``gpus``: what the job holds (its request's, or whole nodes' on an exclusive partition)."""
    found: list[Violation] = []
    remaining: dict[str, dict[str, float]] = {}
    for ref in quotas:
        balances: dict[str, float] = {}
        quota = ref.quota
        outside = ref.fixed is not None and not ref.fixed[0] <= now < ref.fixed[1]
        if outside and any(getattr(est, m) > 0 for m in METERED if getattr(quota, m) is not None):
            found.append(Violation(Code.QUOTA_INACTIVE, f"allocation {describe(quota.window)} is not active", ref.id))
        used = usage.consumed.get(ref.id, Amounts())
        for metric in METERED:
            limit = getattr(quota, metric)
            if limit is None:
                continue
            available, wanted = limit - getattr(used, metric), getattr(est, metric)
            balances[metric] = available - wanted
            if wanted > available + EPSILON:
                message = (
                    f"{_LABELS[metric]} {num(wanted)} exceeds the {describe(quota.window)} balance of "
                    f"{num(max(available, 0))} (limit {num(limit)}): over by {num(wanted - available)}"
                )
                found.append(Violation(_CODES[metric], message, ref.id, limit, wanted, available))
        active = usage.active.get(ref.scope, Active())
        if quota.max_jobs is not None:
            balances["jobs"] = quota.max_jobs - active.jobs - 1
            if active.jobs + 1 > quota.max_jobs:
                message = f"{active.jobs} jobs already active; the limit is {quota.max_jobs}"
                found.append(
                    Violation(
                        Code.CONCURRENCY_MAX_JOBS, message, ref.id, quota.max_jobs, 1, quota.max_jobs - active.jobs
                    )
                )
        if quota.max_gpus is not None:
            balances["gpus"] = quota.max_gpus - active.gpus - gpus
            if gpus and active.gpus + gpus > quota.max_gpus:
                message = f"{gpus} GPUs requested with {active.gpus} in use; the limit is {quota.max_gpus}"
                found.append(
                    Violation(
                        Code.CONCURRENCY_MAX_GPUS, message, ref.id, quota.max_gpus, gpus, quota.max_gpus - active.gpus
                    )
                )
        remaining[ref.id] = balances
    return found, remaining


def reference_evaluate(request: Request, snap: PolicySnapshot, usage: UsageSnapshot, now: datetime) -> Decision:
    project, path, violations = resolve_account(request, snap)
    roles = effective_roles(request, snap, project)
    routing = reference_route(request, snap, roles, project)
    violations += routing.violations
    est = routing.estimate
    violations += guard_violations(request, snap.policy.guards, roles, est.cost)
    part = routing.partition
    held = allocation(request, part)[1]
    found, remaining = reference_quotas(quotas_on_path(request, snap, project), held, est, usage, now)
    violations += found
    return Decision(
        allow=not violations,
        violations=tuple(violations),
        route=Route(part.cluster, part.name, routing.reason) if part is not None else None,
        estimate=est,
        remaining=remaining,
        policy_version=snap.version,
        project=project,
        account_path=path,
        rejected_routes=routing.rejected,
    )


@FAST
@given(cases())
def test_every_way_to_decide_gives_the_reference_decision(
    case: tuple[PolicySnapshot, Request, UsageSnapshot, datetime],
) -> None:
    snap, request, usage, now = case
    want = reference_evaluate(request, snap, usage, now)
    plan = prepare(request, snap)
    used = [(a.cpu_hours, a.gpu_hours, a.cost) for a in (usage.consumed.get(ref.id, Amounts()) for ref in plan.quotas)]
    active = [usage.active.get(ref.scope, Active()) for ref in plan.quotas]
    assert evaluate(request, snap, usage, now=now) == want
    assert decide(plan, usage, now=now) == want
    assert decide(plan, usage, now=now) == want  # a plan is reusable
    assert decide_balances(plan, used, active, now=now) == want


WINDOWS = st.sampled_from(["monthly", "quarterly", "yearly"]) | st.builds(
    lambda days: {"rolling_days": days}, st.integers(1, 400)
) | st.builds(lambda start, days: {"start": start.isoformat(), "end": (start + timedelta(days=days)).isoformat()},
              st.datetimes(datetime(2020, 1, 1), datetime(2030, 1, 1)), st.integers(1, 900))  # fmt: skip
ZONES = st.sampled_from([UTC, None, timezone(timedelta(hours=2)), timezone(timedelta(hours=-7, minutes=-30))])


@FAST
@given(WINDOWS, st.datetimes(datetime(2019, 1, 1), datetime(2031, 1, 1), timezones=st.just(UTC)), ZONES)
def test_quota_bounds_are_the_window_bounds(window: object, now: datetime, zone: timezone | None) -> None:
    ref = QuotaRef("q", "project:p", Quota.model_validate({"window": window, "cpu_hours": 1}))
    local = now.astimezone(zone).replace(tzinfo=None) if zone is None else now.astimezone(zone)
    assert ref.bounds(local) == window_bounds(ref.quota.window, local)
    assert ref.bounds(local) == ref.bounds(local)  # the memo gives the same answer again
    assert ref.window_label == describe(ref.quota.window)


@fast_init
@dataclass(frozen=True, slots=True)
class Sample:
    a: int
    b: str = "x"
    c: tuple[int, ...] = ()


def test_fast_init_records_are_ordinary_frozen_dataclasses() -> None:
    sample = Sample(1, c=(2,))
    assert sample == Sample(a=1, b="x", c=(2,)) and hash(sample) == hash(Sample(1, "x", (2,)))
    assert repr(sample) == "Sample(a=1, b='x', c=(2,))"
    assert replace(sample, b="y") == Sample(1, "y", (2,))
    assert pickle.loads(pickle.dumps(sample)) == sample
    with pytest.raises(FrozenInstanceError):
        sample.a = 2  # type: ignore[misc]
    with pytest.raises(TypeError):
        Sample()  # type: ignore[call-arg]
    assert Amounts() == Amounts(0.0, 0.0, 0.0) and Active(1) == Active(jobs=1, gpus=0)


def test_fast_init_refuses_what_it_cannot_do_faithfully() -> None:
    @dataclass(slots=True)
    class Mutable:
        a: int

    @dataclass(frozen=True, slots=True)
    class Factory:
        a: list[int] = field(default_factory=list)

    @dataclass(frozen=True, slots=True)
    class Post:
        a: int

        def __post_init__(self) -> None:
            pass

    @dataclass(frozen=True)
    class NoSlots:
        a: int

    for cls in (Mutable, Factory, Post, NoSlots):
        with pytest.raises(TypeError):
            fast_init(cls)
