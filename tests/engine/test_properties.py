"""Property-based tests: invariants of every decision, over random requests, usage and policies.

Requests and usage snapshots are drawn against the example policy as written for v1 and against random
builder policies (several clusters, shared partition names, access lists, caps, rates and quotas): the
invariants of plain quotas. The packaged (v2) example, whose soft limits, slices, weights and opening
hours change what a balance means, joins them for the invariants that hold whatever the quota.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hpcpolicy.engine import (
    Active,
    Amounts,
    Code,
    Decision,
    PolicySnapshot,
    QuotaRef,
    Request,
    UsageSnapshot,
    compile_policy,
    effective_roles,
    evaluate,
)
from hpcpolicy.engine.estimate import allocation, estimate, walltime_for
from hpcpolicy.engine.rules.partition import partition_violations
from hpcpolicy.engine.snapshot import PartitionRef, gpu_rate
from hpcpolicy.policy import load_policy
from tests.builders import EXAMPLE_V1, PolicyBuilder

FAST = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
_loaded = load_policy(EXAMPLE_V1, env={})
EXAMPLE = compile_policy(_loaded.policy, _loaded.version)
_loaded_v2 = load_policy(env={})
EXAMPLE_V2 = compile_policy(_loaded_v2.policy, _loaded_v2.version)
NOWS = st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2028, 12, 31), timezones=st.just(UTC))
ROLES = ["gpu_user", "dgx_access", "pi", "r1", "r2"]
GPU_TYPES = ["a100", "l40s", "l4", "h100"]


# -- strategies ---------------------------------------------------------------------------------------


def _all_refs(snap: PolicySnapshot) -> list[QuotaRef]:
    return [ref for refs in snap.scope_quotas.values() for ref in refs] + list(snap.user_quotas("newbie"))


@st.composite
def requests(draw: st.DrawFn, snap: PolicySnapshot) -> Request:
    """Mostly modest jobs that name little (so that a fair share is allowed), sometimes anything."""

    def often_none(values: list[str]) -> str | None:
        return draw(st.none() | st.none() | st.none() | st.sampled_from(values))

    return Request(
        user_id=draw(st.sampled_from([*snap.policy.users, "newbie"])),
        roles=tuple(draw(st.lists(st.sampled_from(ROLES), max_size=3, unique=True))),
        project=often_none([*snap.project_parents, "ghost"]),
        cluster=often_none([*snap.clusters, "mars"]),
        partition=often_none([*snap.partitions_by_name, "nope"]),
        cpus=draw(st.integers(1, 16) | st.integers(1, 600)),
        gpus=draw(st.just(0) | st.integers(0, 4) | st.integers(0, 40)),
        gpu_type=often_none(GPU_TYPES),
        memory_gb=draw(st.floats(0, 64) | st.floats(0, 3000)),
        nodes=draw(st.just(1) | st.integers(1, 4) | st.integers(1, 20)),
        walltime_hours=draw(st.none() | st.floats(0.01, 8) | st.floats(0.01, 400)),
        cpu_hours=draw(st.none() | st.none() | st.floats(0, 100) | st.floats(0, 1e5)),
        gpu_hours=draw(st.none() | st.none() | st.floats(0, 10) | st.floats(0, 1e4)),
    )


@st.composite
def usages(draw: st.DrawFn, snap: PolicySnapshot) -> UsageSnapshot:
    consumed: dict[str, Amounts] = {}
    active: dict[str, Active] = {}
    for ref in _all_refs(snap):
        q = ref.quota
        if draw(st.booleans()):  # around the limit: some fit, some do not
            share = st.floats(0, 0.5) | st.floats(0, 1.2)
            consumed[ref.id] = Amounts(*((limit or 100) * draw(share) for limit in (q.cpu_hours, q.gpu_hours, q.cost)))
        if draw(st.booleans()):
            jobs, gpus = st.integers(0, (q.max_jobs or 3) + 1), st.integers(0, (q.max_gpus or 8) + 4)
            active[ref.scope] = Active(draw(jobs), draw(gpus))
    return UsageSnapshot(consumed, active)


def _quota() -> st.SearchStrategy[dict[str, Any]]:
    windows = st.sampled_from(["monthly", "quarterly", "yearly", {"rolling_days": 30},
                               {"start": "2026-01-01", "end": "2027-01-01"}])
    metric = st.none() | st.floats(0, 1000)
    count = st.none() | st.integers(0, 6)
    fields = st.fixed_dictionaries({"window": windows, "cpu_hours": metric, "gpu_hours": metric, "cost": metric,
                                    "max_jobs": count, "max_gpus": count})
    return fields.map(lambda d: {k: v for k, v in d.items() if v is not None})


def _add_quotas(draw: st.DrawFn, add: Any) -> None:
    quotas = draw(st.lists(_quota(), max_size=2))
    for i, quota in enumerate(quotas):
        add(**quota, **({"name": f"q{i}"} if len(quotas) > 1 else {}))


@st.composite
def policies(draw: st.DrawFn) -> PolicySnapshot:
    b = PolicyBuilder().project("p2", team="team2").user(projects=["proj", "p2"])
    b.user(default_project=draw(st.sampled_from(["proj", "p2", None])), roles=draw(st.lists(st.sampled_from(ROLES))))
    b.user("v", projects=["p2"]).group("g", ["gpu_user"]).user("v", groups=["g"])
    for i in range(draw(st.integers(1, 4))):
        gpus = draw(st.integers(0, 8))
        shape = {"count": st.integers(1, 8), "cpus": st.integers(1, 128), "memory_gb": st.floats(1, 1024)}
        nodes: dict[str, Any] = {"gpus": gpus, **{k: draw(v) for k, v in shape.items()}}
        if gpus:
            nodes["gpu_type"] = draw(st.sampled_from(GPU_TYPES[:2]))
        caps = {"max_cpus": st.integers(1, 1024), "max_gpus": st.integers(0, 32), "max_memory_gb": st.floats(1, 4096),
                "max_nodes": st.integers(1, 10), "max_walltime_hours": st.floats(0.5, 200),
                "default_walltime_hours": st.floats(0.5, 50), "gpu_types": st.lists(st.sampled_from(GPU_TYPES[:3]))}
        limits = {k: draw(v) for k, v in caps.items() if draw(st.booleans())}
        if draw(st.integers(0, 3)) == 0:  # v2 minimums
            limits |= {"min_cpus": draw(st.integers(0, 8)), "min_memory_gb": draw(st.floats(0, 64))}
        lists = {k: draw(st.lists(st.sampled_from(v), max_size=2)) for k, v in
                 {"roles": ROLES, "deny_roles": ROLES, "projects": ["proj", "p2"], "deny_projects": ["proj"]}.items()}
        access = {k: v for k, v in lists.items() if v and draw(st.integers(0, 2)) == 0}
        rates = {"cpu_hour": draw(st.floats(0, 5)), "memory_gb_hour": draw(st.floats(0, 0.1)),
                 "gpu_hour": draw(st.dictionaries(st.sampled_from([*GPU_TYPES[:2], "default"]), st.floats(0, 10)))}
        name, cluster = draw(st.sampled_from(["cpu", "gpu", f"p{i}"])), draw(st.sampled_from(["hpc", "kube"]))
        b.partition(name, cluster, nodes, limits, access, rates)
        shape = {"exclusive": st.booleans(), "routing": st.sampled_from(["auto", "explicit"])}  # v2, now and then
        b.data["clusters"][cluster]["partitions"][name].update(
            {k: draw(v) for k, v in shape.items() if draw(st.integers(0, 4)) == 0}
        )
    for add in (b.user_quota, b.project_quota, b.team_quota, b.org_quota):
        _add_quotas(draw, add)
    expensive = st.builds(lambda t: {"cost_threshold": t, "role": "pi"}, st.floats(0, 500))
    b.guards(gpu=draw(st.sampled_from([None, {"role": "gpu_user"}])), expensive_job=draw(st.none() | expensive))
    return b.snapshot()


@st.composite
def cases(draw: st.DrawFn, v2: bool = False) -> tuple[PolicySnapshot, Request, UsageSnapshot, datetime]:
    """A policy (``v2``: the packaged example too), a request, a usage snapshot and a time."""
    snap = draw(st.just(EXAMPLE) | policies() | (st.just(EXAMPLE_V2) if v2 else st.nothing()))
    return snap, draw(requests(snap)), draw(usages(snap)), draw(NOWS)


# -- properties ---------------------------------------------------------------------------------------


@FAST
@given(cases(v2=True))
def test_allow_iff_no_violations(case: tuple[PolicySnapshot, Request, UsageSnapshot, datetime]) -> None:
    snap, request, usage, now = case
    decision = evaluate(request, snap, usage, now=now)
    assert decision.allow is (not decision.violations)
    assert all(v.code in set(Code) for v in decision.violations)
    if decision.allow:
        assert decision.route is not None
    if Code.ROUTE_NO_FIT in decision.codes:
        assert decision.rejected_routes and all(r.violations for r in decision.rejected_routes)
    else:
        assert decision.rejected_routes == ()


def _quota_refs(snap: PolicySnapshot, decision: Decision, user_id: str) -> dict[str, QuotaRef]:
    refs = list(snap.user_quotas(user_id))
    for scope in decision.account_path[1:]:
        refs += snap.quotas_for(scope)
    return {ref.id: ref for ref in refs}


@FAST
@given(cases())
def test_remaining_is_limit_minus_consumed_minus_estimate(
    case: tuple[PolicySnapshot, Request, UsageSnapshot, datetime],
) -> None:
    snap, request, usage, now = case
    decision = evaluate(request, snap, usage, now=now)
    refs = _quota_refs(snap, decision, request.user_id)
    assert set(decision.remaining) == set(refs)
    failed = {(v.scope, v.code) for v in decision.violations}
    metric_codes = {"cpu_hours": Code.QUOTA_CPU_HOURS, "gpu_hours": Code.QUOTA_GPU_HOURS, "cost": Code.QUOTA_COST}
    for quota_id, balances in decision.remaining.items():
        quota, used = refs[quota_id].quota, usage.consumed.get(quota_id, Amounts())
        for metric, code in metric_codes.items():
            limit = getattr(quota, metric)
            assert (metric in balances) is (limit is not None)
            if limit is None:
                continue
            expected = limit - getattr(used, metric) - getattr(decision.estimate, metric)
            assert math.isclose(balances[metric], expected, rel_tol=1e-9, abs_tol=1e-6)
            if balances[metric] < -1e-6:
                assert (quota_id, code) in failed
            elif balances[metric] >= 0:
                assert (quota_id, code) not in failed
        active = usage.active.get(refs[quota_id].scope, Active())
        if quota.max_jobs is not None:
            assert balances["jobs"] == quota.max_jobs - active.jobs - 1
            assert ((quota_id, Code.CONCURRENCY_MAX_JOBS) in failed) is (balances["jobs"] < 0)
        if quota.max_gpus is not None:  # the GPUs the job holds: whole nodes' on an exclusive partition
            route = decision.route
            part = snap.partition(route.cluster, route.partition) if route else None
            assert balances["gpus"] == quota.max_gpus - active.gpus - allocation(request, part)[1]


@FAST
@given(cases(v2=True))
def test_an_allowed_route_satisfies_the_partitions_caps(
    case: tuple[PolicySnapshot, Request, UsageSnapshot, datetime],
) -> None:
    snap, request, usage, now = case
    decision = evaluate(request, snap, usage, now=now)
    if not decision.allow:
        return
    assert decision.route is not None
    [part] = [p for p in snap.partitions if (p.cluster, p.name) == (decision.route.cluster, decision.route.partition)]
    nodes, n = part.spec.nodes, request.nodes
    assert request.cluster in (None, part.cluster)
    assert request.partition in (None, part.name)
    assert request.cpus <= part.max_cpus and math.ceil(request.cpus / n) <= nodes.cpus
    assert request.gpus <= part.max_gpus and math.ceil(request.gpus / n) <= nodes.gpus
    assert request.memory_gb <= part.max_memory_gb and request.memory_gb / n <= nodes.memory_gb * (1 + 1e-12)
    assert n <= part.max_nodes
    walltime = decision.estimate.walltime_hours
    assert part.max_walltime_hours is None or walltime <= part.max_walltime_hours
    if request.gpu_type is not None:
        assert request.gpu_type == nodes.gpu_type
        assert part.gpu_types is None or request.gpu_type in part.gpu_types
    if part.minimums is not None:
        asked = (request.cpus, request.gpus, request.memory_gb, request.nodes)
        assert all(wanted >= least for wanted, least in zip(asked, part.minimums, strict=True))
    if request.partition is None:  # routing never picks an explicit partition, nor GPU nodes for a CPU job
        assert not part.explicit and part.gpu_nodes is (request.gpus > 0)


def _raw_cost(request: Request, part: PartitionRef, walltime: float) -> float:
    """The estimate's cost before rounding (routing compares these, so a 1e-130 difference still counts)."""
    est = estimate(request, part, walltime)
    rates = part.spec.rates
    gpu = gpu_rate(part.spec, request.gpu_type) if est.gpu_hours else 0.0
    memory_gb = allocation(request, part)[2]  # whole nodes' memory on an exclusive partition
    cost = est.cpu_hours * rates.cpu_hour + est.gpu_hours * gpu + memory_gb * walltime * rates.memory_gb_hour
    assert round(cost, 9) == est.cost
    return cost


@FAST
@given(cases())
def test_routing_picks_the_cheapest_accepting_partition(
    case: tuple[PolicySnapshot, Request, UsageSnapshot, datetime],
) -> None:
    """Checked against a plain reference: every candidate checked, cheapest wins, ties in file order."""
    snap, request, usage, now = case
    if request.partition is not None or (request.cluster is not None and request.cluster not in snap.clusters):
        return
    decision = evaluate(request, snap, usage, now=now)
    roles = effective_roles(request, snap, decision.project)
    default = snap.policy.defaults.walltime_hours
    ranked_at = request.walltime_hours or default  # one walltime for every candidate
    fits: list[tuple[float, str, str]] = []
    rejected: list[tuple[str, str, list[str]]] = []
    for part in snap.partitions:
        if request.cluster not in (None, part.cluster):
            continue
        problems = partition_violations(request, part, roles, decision.project, walltime_for(request, part, default))
        if part.explicit:
            rejected.append((part.cluster, part.name, [Code.ROUTE_EXPLICIT]))
        elif part.gpu_nodes and not request.gpus:
            rejected.append((part.cluster, part.name, [Code.ROUTE_GPU_NODES]))
        elif problems:
            rejected.append((part.cluster, part.name, [v.code for v in problems]))
        else:
            fits.append((_raw_cost(request, part, ranked_at), part.cluster, part.name))
    if not fits:
        assert decision.route is None
        assert [(r.cluster, r.partition, [v.code for v in r.violations]) for r in decision.rejected_routes] == rejected
        return
    assert decision.route is not None
    chosen = (decision.route.cluster, decision.route.partition)
    cheapest = min(cost for cost, _, _ in fits)
    near = [(c, p) for cost, c, p in fits if math.isclose(cost, cheapest, rel_tol=1e-9, abs_tol=1e-12)]
    exact = [(c, p) for cost, c, p in fits if cost == cheapest]
    assert chosen in near
    if len(near) == len(exact):  # no tie blurred by float rounding: the first cheapest in file order
        assert chosen == exact[0]


@FAST
@given(cases())
def test_evaluation_is_deterministic(case: tuple[PolicySnapshot, Request, UsageSnapshot, datetime]) -> None:
    snap, request, usage, now = case
    first = evaluate(request, snap, usage, now=now).to_dict()
    again = evaluate(Request.model_validate(request.model_dump()), snap, usage, now=now).to_dict()
    assert first == again
    assert evaluate(request, snap, usage, now=now.replace(tzinfo=None)).to_dict() == first  # naive = UTC
