"""Budgets on a slice of the machine, per-member budgets, per-user caps on a partition, hour weights.

The engine decides which quotas bind a request (after routing) and checks them against the usage it is
given; what each quota has consumed is the ledger's business (tests/ledger/test_counters.py).
"""

from __future__ import annotations

import pytest

from hpcpolicy.engine import Active, Amounts, UsageSnapshot
from hpcpolicy.engine.slices import Slice
from hpcpolicy.policy import PolicyError, parse_policy
from tests.builders import PolicyBuilder, decide, gpu_nodes


def machine() -> PolicyBuilder:
    """cpu (CPU nodes), gpu (L40S) and dgx (A100) partitions; user u in project proj of team team."""
    b = PolicyBuilder().partition("gpu", nodes=gpu_nodes(4, gpu_type="l40s"), rates={"gpu_hour": {"l40s": 1.0}})
    b.partition("dgx", nodes=gpu_nodes(2, gpus=8, gpu_type="a100"), rates={"gpu_hour": {"a100": 3.0}})
    return b.guards(gpu=None)


def test_a_sliced_quota_binds_only_jobs_in_its_slice() -> None:
    snap = machine().project_quota(name="all", gpu_hours=1000).project_quota(
        name="dgx", gpu_hours=20, slice={"partitions": ["dgx"]}
    ).snapshot()
    on_dgx = decide(snap, partition="dgx", gpus=8, walltime_hours=2)
    on_gpu = decide(snap, partition="gpu", gpus=4, walltime_hours=10)
    assert set(on_dgx.remaining) >= {"project:proj#all", "project:proj#dgx"}
    assert "project:proj#dgx" not in on_gpu.remaining and on_gpu.allow
    assert on_dgx.remaining["project:proj#dgx"]["gpu_hours"] == 20 - 16
    too_big = decide(snap, partition="dgx", gpus=8, walltime_hours=3)  # 24 DGX GPU-hours > 20
    assert [(v.code, v.scope) for v in too_big.violations] == [("quota.gpu_hours_exceeded", "project:proj#dgx")]


def test_a_gpu_type_slice_follows_the_nodes_type_and_ignores_cpu_only_jobs() -> None:
    snap = machine().team_quota(name="a100", max_gpus=8, slice={"gpu_types": ["a100"]}).snapshot()
    busy = UsageSnapshot(active={"team:team[gpu_types=a100]": Active(jobs=1, gpus=8)})
    assert not decide(snap, busy, partition="dgx", gpus=1).allow  # 8 A100s already in use
    assert decide(snap, busy, partition="gpu", gpus=1).allow  # an L40S job is outside the slice
    assert decide(snap, busy, partition="dgx", gpus=0, cpus=4).allow  # no GPUs: no GPU type, outside it
    denied = decide(snap, busy, partition="dgx", gpus=1)
    assert denied.violations[0].code == "concurrency.max_gpus" and denied.violations[0].scope == "team:team#a100"


def test_the_quotas_that_bind_are_chosen_on_the_route_the_engine_picks() -> None:
    snap = machine().limits("gpu", max_gpus=4).project_quota(
        name="dgx", gpu_hours=5, slice={"partitions": ["dgx"]}
    ).snapshot()
    routed = decide(snap, gpus=8, walltime_hours=1)  # 8 GPUs per node only fit the DGX
    assert routed.route is not None and routed.route.partition == "dgx"
    assert [v.code for v in routed.violations] == ["quota.gpu_hours_exceeded"]
    assert decide(snap, gpus=2, walltime_hours=4).allow  # routed to gpu: the DGX slice does not bind


def test_a_partition_per_user_cap_binds_every_user_on_that_partition_only() -> None:
    b = machine().set("clusters.hpc.partitions.dgx.per_user", {"max_jobs": 2, "gpu_hours": 50})
    snap = b.snapshot()
    key = "user:u[clusters=hpc;partitions=dgx]"
    two = UsageSnapshot(active={key: Active(jobs=2, gpus=2)})
    denied = decide(snap, two, partition="dgx", gpus=1)
    assert [(v.code, v.scope) for v in denied.violations] == [("concurrency.max_jobs", "user:u#per_user:dgx")]
    assert decide(snap, two, partition="gpu", gpus=1).allow
    stranger = decide(snap, UsageSnapshot(active={"user:zoe[clusters=hpc;partitions=dgx]": Active(2, 2)}),
                      user_id="zoe", partition="dgx", gpus=1)  # fmt: skip
    assert not stranger.allow  # unlisted users too


def test_member_budgets_inside_a_project_default_and_override() -> None:
    b = machine().user("v", projects=["proj"])
    b.set("orgs.org.teams.team.projects.proj.member_quotas", [{"cpu_hours": 10}])
    b.set("orgs.org.teams.team.projects.proj.members", {"v": {"quotas": [{"cpu_hours": 100}]}})
    snap = b.snapshot()
    assert not decide(snap, cpus=4, walltime_hours=3).allow  # u: 12 CPU-hours > the default share of 10
    assert decide(snap, user_id="v", cpus=4, walltime_hours=3).allow  # v's own share is 100
    denied = decide(snap, cpus=4, walltime_hours=3)
    assert denied.violations[0].scope == "project:proj/user:u"
    used = UsageSnapshot(consumed={"project:proj/user:v": Amounts(cpu_hours=95)})
    assert not decide(snap, used, user_id="v", cpus=4, walltime_hours=3).allow
    assert decide(snap, used, cpus=1, walltime_hours=1).allow  # another member's use is not u's


def test_hour_weights_count_against_budgets_and_leave_cost_alone() -> None:
    b = machine().set("clusters.hpc.partitions.dgx.hour_weights", {"cpu": 0, "gpu": {"a100": 2.0}})
    snap = b.project_quota(gpu_hours=40, cpu_hours=1).snapshot()
    decision = decide(snap, partition="dgx", gpus=4, cpus=16, walltime_hours=4)
    assert decision.estimate.gpu_hours == 32 and decision.estimate.cpu_hours == 0  # 16 raw GPU-hours × 2
    assert decision.estimate.cost == pytest.approx(16 * 3.0)  # priced from raw hours
    assert decision.allow
    assert not decide(snap, partition="dgx", gpus=4, cpus=16, walltime_hours=6).allow  # 48 counted > 40


def test_slices_are_v2_and_must_name_something() -> None:
    v1 = machine().project_quota(name="dgx", gpu_hours=5, slice={"partitions": ["dgx"]})
    v1.data["apiVersion"] = "hpcpolicy/v1"
    with pytest.raises(PolicyError) as refused:
        parse_policy(v1.yaml(), source="p.yaml", env={})
    (issue,) = refused.value.issues
    assert "slice" in str(issue) and "hpcpolicy/v2" in issue.message and issue.line is not None
    with pytest.raises(PolicyError, match="a slice names clusters, partitions or gpu_types"):
        parse_policy(machine().project_quota(gpu_hours=5, slice={}).yaml(), env={})


def test_slice_keys_are_canonical() -> None:
    assert Slice(frozenset({"b", "a"}), None, frozenset({"x"})).key == "clusters=a,b;gpu_types=x"
    assert Slice(None, frozenset({"dgx"})).admits("any", "dgx", None)
    assert not Slice(frozenset({"hpc"}), frozenset({"dgx"})).admits("other", "dgx", None)


def test_lint_names_unknown_slice_members_and_useless_weights() -> None:
    b = machine().project_quota(name="x", gpu_hours=1, slice={"partitions": ["dgz"], "gpu_types": ["h100"]})
    b.set("clusters.hpc.partitions.dgx.per_user", {"name": "each", "max_jobs": 2})
    b.set("clusters.hpc.partitions.dgx.hour_weights", {"gpu": {"h100": 2.0}})
    b.set("orgs.org.teams.team.projects.proj.member_quotas", [{"cpu_hours": 1}, {"cpu_hours": 2}])
    found = {(".".join(map(str, i.path)), i.severity): i.message for i in b.lint_issues()}
    slice_path = "orgs.org.teams.team.projects.proj.quotas.0.slice"
    assert "unknown partition 'dgz'" in found[(f"{slice_path}.partitions.0", "error")]
    assert "unknown gpu_type 'h100'" in found[(f"{slice_path}.gpu_types.0", "error")]
    assert "per_user:dgx" in found[("clusters.hpc.partitions.dgx.per_user", "error")]
    assert "never applies" in found[("clusters.hpc.partitions.dgx.hour_weights.gpu.h100", "warning")]
    assert ("orgs.org.teams.team.projects.proj.member_quotas.0.name", "error") in found
