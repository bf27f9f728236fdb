"""Routing: with no partition named, the cheapest partition that accepts the job."""

from __future__ import annotations

from hpcpolicy.engine import Active, Code, PolicySnapshot, UsageSnapshot
from tests.builders import PolicyBuilder, decide, gpu_nodes


def _three_tiers() -> PolicySnapshot:
    """cpu (1/CPU-h, 32-CPU nodes), fat (0.5/CPU-h, 128-CPU nodes, role fat), wide (2/CPU-h, 256-CPU nodes)."""
    return (
        PolicyBuilder()
        .partition("fat", nodes={"count": 2, "cpus": 128, "memory_gb": 1024}, rates={"cpu_hour": 0.5},
                   access={"roles": ["fat"]})
        .partition("wide", nodes={"count": 2, "cpus": 256, "memory_gb": 2048}, rates={"cpu_hour": 2})
        .snapshot()
    )


def _route(decision: object) -> tuple[str, str] | None:
    route = getattr(decision, "route", None)
    return None if route is None else (route.cluster, route.partition)


def test_cheapest_accepting_partition_wins() -> None:
    snap = _three_tiers()
    assert _route(decide(snap, cpus=8)) == ("hpc", "cpu")
    assert _route(decide(snap, cpus=8, roles=("fat",))) == ("hpc", "fat")  # cheaper, now accessible
    assert _route(decide(snap, cpus=100, nodes=1)) == ("hpc", "wide")  # cpu's nodes are too small
    decision = decide(snap, cpus=100, nodes=1)
    assert decision.allow
    assert decision.rejected_routes == ()  # only reported when nothing fits


def test_no_fit_lists_every_candidate_and_why() -> None:
    decision = decide(_three_tiers(), cpus=600)
    assert decision.codes == [Code.ROUTE_NO_FIT]
    assert decision.route is None
    assert not decision.allow
    rejected = {(r.cluster, r.partition): {v.code for v in r.violations} for r in decision.rejected_routes}
    assert rejected == {
        ("hpc", "cpu"): {Code.LIMIT_MAX_CPUS},
        ("hpc", "fat"): {Code.PARTITION_ROLE_REQUIRED, Code.LIMIT_MAX_CPUS},
        ("hpc", "wide"): {Code.LIMIT_MAX_CPUS},
    }
    assert [r.partition for r in decision.rejected_routes] == ["cpu", "fat", "wide"]  # file order
    assert decision.to_dict()["rejected_routes"][0]["violations"][0]["code"] == "limit.max_cpus"


def test_cluster_restricts_the_candidates() -> None:
    snap = PolicyBuilder().partition("cheap", cluster="kube", rates={"cpu_hour": 0.1}).snapshot()
    assert _route(decide(snap)) == ("kube", "cheap")
    assert _route(decide(snap, cluster="hpc")) == ("hpc", "cpu")
    decision = decide(snap, cluster="kube", cpus=1000)
    assert decision.codes == [Code.ROUTE_NO_FIT]
    assert [(r.cluster, r.partition) for r in decision.rejected_routes] == [("kube", "cheap")]


def test_ties_go_to_file_order() -> None:
    first = PolicyBuilder().partition("a").partition("b").snapshot()
    assert _route(decide(first)) == ("hpc", "cpu")
    builder = PolicyBuilder()
    builder.data["clusters"]["hpc"]["partitions"] = {}
    builder.partition("b").partition("a")
    assert _route(decide(builder.snapshot())) == ("hpc", "b")


def test_free_partitions_tie_with_each_other_in_file_order() -> None:
    snap = PolicyBuilder().rates(cpu_hour=0).partition("free2", cluster="other", rates={}).snapshot()
    assert _route(decide(snap)) == ("hpc", "cpu")


def test_routing_ignores_budgets_so_denials_say_over_budget() -> None:
    snap = PolicyBuilder().partition("pricey", rates={"cpu_hour": 5}).project_quota(cost=1).snapshot()
    decision = decide(snap, cpus=2)
    assert _route(decision) == ("hpc", "cpu")
    assert decision.codes == [Code.QUOTA_COST]


def test_routing_respects_project_access() -> None:
    snap = (
        PolicyBuilder()
        .project("vip")
        .user(projects=["proj", "vip"], default_project="proj")
        .partition("reserved", rates={"cpu_hour": 0.1}, access={"projects": ["vip"]})
        .snapshot()
    )
    assert _route(decide(snap)) == ("hpc", "cpu")
    assert _route(decide(snap, project="vip")) == ("hpc", "reserved")


def test_gpu_jobs_route_to_gpu_partitions(example_snap: PolicySnapshot) -> None:
    assert _route(decide(example_snap, user_id="bob", gpus=2)) == ("helix", "gpu")
    # the atlas may not use the DGX; carol's projects may use the cheaper L4 inference nodes
    carol = decide(example_snap, user_id="carol", gpus=1, gpu_type="l4")
    assert _route(carol) == ("kube-ai", "inference-l4")
    assert carol.allow
    a100 = decide(example_snap, user_id="carol", gpus=1, gpu_type="a100")
    assert _route(a100) == ("helix", "dgx-a100")


def test_no_fit_still_checks_quotas_and_guards(example_snap: PolicySnapshot) -> None:
    usage = UsageSnapshot(active={"user:newbie": Active(jobs=5)})
    decision = decide(example_snap, usage, user_id="newbie", gpus=64, walltime_hours=0.1)
    assert set(decision.codes) == {Code.ROUTE_NO_FIT, Code.GPU_ROLE_REQUIRED, Code.CONCURRENCY_MAX_JOBS}
    every = {"cpu", "highmem", "gpu", "dgx-a100", "interactive", "scavenger", "inference-l4"}
    assert {r.partition for r in decision.rejected_routes} == every
    assert decision.estimate.cost == 0  # no partition, no rates


def test_named_partition_skips_routing() -> None:
    snap = PolicyBuilder().partition("gpu", nodes=gpu_nodes(), rates={"cpu_hour": 9}).snapshot()
    decision = decide(snap, partition="gpu", cpus=2)
    assert _route(decision) == ("hpc", "gpu")
    assert decision.estimate.cost == 9 * 2


# -- routing fixes of policy v2 (they apply to v1 files too: they were wrong answers) ---------------------


def test_a_cpu_job_is_never_routed_to_gpu_nodes(example_snap: PolicySnapshot) -> None:
    # inference-l4's shorter default walltime (1 h) made it look cheaper than cpu (4 h) for carol
    carol = decide(example_snap, user_id="carol", cpus=4, memory_gb=64)
    assert _route(carol) == ("helix", "cpu")
    # too much memory for a cpu node: highmem, not the (cheaper per hour) 512 GB GPU nodes
    big = decide(example_snap, user_id="alice", cpus=4, memory_gb=300)
    assert _route(big) == ("helix", "highmem")
    assert big.estimate.walltime_hours == 8  # highmem's own default still sets the estimate
    # naming a GPU partition is still allowed
    assert _route(decide(example_snap, user_id="alice", partition="gpu", cpus=4, memory_gb=300)) == ("helix", "gpu")


def test_candidates_are_ranked_at_one_walltime() -> None:
    """Hourly cost decides, not each partition's default walltime: a (1/CPU-h, 10 h default) beats b (2/CPU-h, 1 h)."""
    snap = (
        PolicyBuilder()
        .partition("a", rates={"cpu_hour": 1}, limits={"default_walltime_hours": 10})
        .partition("b", rates={"cpu_hour": 2}, limits={"default_walltime_hours": 1})
        .rates(cpu_hour=3)
        .snapshot()
    )
    decision = decide(snap, cpus=2)
    assert _route(decision) == ("hpc", "a")
    assert decision.estimate.walltime_hours == 10 and decision.estimate.cost == 20


def test_a_cpu_job_with_only_gpu_nodes_left_says_why() -> None:
    snap = PolicyBuilder().partition("gpu", nodes=gpu_nodes()).rates(cpu_hour=1).snapshot()
    decision = decide(snap, cpus=200)  # too big for cpu; gpu's nodes would hold it, but they have GPUs
    assert decision.codes == [Code.ROUTE_NO_FIT]
    rejected = {r.partition: [v.code for v in r.violations] for r in decision.rejected_routes}
    assert rejected == {"cpu": [Code.LIMIT_MAX_CPUS], "gpu": [Code.ROUTE_GPU_NODES]}


def test_route_reason() -> None:
    snap = _three_tiers()
    assert decide(snap, cpus=8, partition="wide").route.reason == "named"  # type: ignore[union-attr]
    assert decide(snap, cpus=8, roles=("fat",)).route.reason == "cheapest of 3 candidates"  # type: ignore[union-attr]
    cpu = decide(snap, cpus=8).route
    assert cpu is not None and cpu.reason == "cheapest of 3 candidates; cheaper rejected: fat (partition.role_required)"
    wide = decide(snap, cpus=100)
    assert wide.route is not None
    assert wide.route.reason == (
        "cheapest of 3 candidates; cheaper rejected: fat (partition.role_required), cpu (limit.cpus_per_node)"
    )
    assert wide.to_dict()["route"] == {"cluster": "hpc", "partition": "wide", "reason": wide.route.reason}


def test_an_eight_gpu_single_node_job_says_why_it_left_the_cheaper_nodes(example_snap: PolicySnapshot) -> None:
    decision = decide(example_snap, user_id="carol", gpus=8, gpu_type=None, walltime_hours=1)
    assert _route(decision) == ("helix", "dgx-a100")
    assert decision.route is not None and "gpu (limit.gpus_per_node)" in decision.route.reason
