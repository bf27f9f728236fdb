"""Partition shape rules (policy v2): minimums, exclusive whole-node partitions, partitions used only by name."""

from __future__ import annotations

from datetime import timedelta

from hpcpolicy.engine import Code, Request
from hpcpolicy.engine.estimate import allocation
from hpcpolicy.ledger.rules import lien_for
from tests.builders import NOW, PolicyBuilder, decide, gpu_nodes


def test_minimums_keep_small_jobs_off_big_hardware() -> None:
    snap = (
        PolicyBuilder()
        .partition("gpu", nodes=gpu_nodes(), limits={"min_gpus": 1})
        .partition("himem", nodes={"count": 2, "cpus": 32, "memory_gb": 2048},
                   limits={"min_memory_gb": 256, "min_cpus": 2, "min_nodes": 1})
        .user(roles=["gpu_user"])
        .snapshot()
    )  # fmt: skip
    cpu_on_gpu = decide(snap, partition="gpu", cpus=4)
    assert cpu_on_gpu.codes == [Code.LIMIT_MIN_GPUS]
    [v] = cpu_on_gpu.violations
    assert (v.scope, v.limit, v.requested) == ("partition:gpu", 1, 0)
    assert v.message == "GPUs 0 is below the minimum of 1"
    small = decide(snap, partition="himem", cpus=1, memory_gb=64)
    assert small.codes == [Code.LIMIT_MIN_CPUS, Code.LIMIT_MIN_MEMORY]
    assert [v.limit for v in small.violations] == [2, 256]
    assert decide(snap, partition="himem", cpus=2, memory_gb=512).allow
    assert decide(snap, partition="gpu", gpus=1).allow


def test_min_nodes() -> None:
    snap = PolicyBuilder().limits(min_nodes=2).snapshot()
    assert decide(snap, partition="cpu", nodes=1).codes == [Code.LIMIT_MIN_NODES]
    assert decide(snap, partition="cpu", cpus=2, nodes=2).allow


def test_routing_skips_a_partition_whose_minimums_the_job_misses() -> None:
    snap = (
        PolicyBuilder()
        .partition("himem", nodes={"count": 2, "cpus": 32, "memory_gb": 2048}, rates={"cpu_hour": 0.1},
                   limits={"min_memory_gb": 256})
        .snapshot()
    )  # fmt: skip
    small = decide(snap, cpus=2, memory_gb=16)
    assert small.route is not None and small.route.partition == "cpu"
    assert small.route.reason == "cheapest of 2 candidates; cheaper rejected: himem (limit.min_memory)"
    assert decide(snap, cpus=2, memory_gb=300).route.partition == "himem"  # type: ignore[union-attr]


def _exclusive() -> PolicyBuilder:
    """``whole``: 2 nodes × 64 CPUs × 512 GB × 4 GPUs, exclusive; 1 per CPU-h, 2 per GPU-h, 0.01 per GB-h."""
    return (
        PolicyBuilder()
        .partition("whole", nodes=gpu_nodes(count=2, gpus=4, cpus=64, memory_gb=512),
                   rates={"cpu_hour": 1, "gpu_hour": {"a100": 2}, "memory_gb_hour": 0.01})
        .set("clusters.hpc.partitions.whole.exclusive", True)
        .user(roles=["gpu_user"])
    )  # fmt: skip


def test_an_exclusive_partition_bills_whole_nodes() -> None:
    snap = _exclusive().snapshot()
    decision = decide(snap, partition="whole", cpus=2, gpus=1, memory_gb=8, nodes=1, walltime_hours=3)
    assert decision.allow
    est = decision.estimate
    assert (est.cpu_hours, est.gpu_hours) == (64 * 3, 4 * 3)
    assert est.cost == 64 * 3 * 1 + 4 * 3 * 2 + 512 * 3 * 0.01
    two = decide(snap, partition="whole", cpus=2, nodes=2, walltime_hours=1).estimate
    assert (two.cpu_hours, two.gpu_hours) == (128, 8)
    # declared hours may still raise the estimate above the nodes held
    assert decide(snap, partition="whole", cpus=2, walltime_hours=1, cpu_hours=500).estimate.cpu_hours == 500


def test_the_lien_holds_what_the_estimate_bills() -> None:
    snap = _exclusive().snapshot()
    request = Request(user_id="u", partition="whole", cpus=2, gpus=1, memory_gb=8, walltime_hours=3)
    decision = decide(snap, **request.model_dump(exclude_none=True))
    lien = lien_for("l1", request, decision, snap, NOW, timedelta(hours=1))
    assert lien is not None
    assert (lien.cpus, lien.gpus, lien.memory_gb) == (64, 4, 512)
    assert (lien.cpus, lien.gpus, lien.memory_gb) == allocation(request, snap.partition("hpc", "whole"))
    shared = Request(user_id="u", partition="cpu", cpus=2, memory_gb=8)
    assert allocation(shared, snap.partition("hpc", "cpu")) == (2, 0, 8)
    assert allocation(shared, None) == (2, 0, 8)


def test_routing_ranks_an_exclusive_partition_by_the_nodes_it_would_hold() -> None:
    """Cheaper per CPU-hour, but a 1-CPU job would hold 32 of them: the shared partition is cheaper."""
    snap = (
        PolicyBuilder()
        .partition("nodes", rates={"cpu_hour": 0.5})
        .set("clusters.hpc.partitions.nodes.exclusive", True)
        .snapshot()
    )
    assert decide(snap, cpus=1, walltime_hours=1).route.partition == "cpu"  # type: ignore[union-attr]
    full = decide(snap, cpus=32, walltime_hours=1)
    assert full.route is not None and full.route.partition == "nodes" and full.estimate.cost == 16


def test_an_explicit_partition_runs_only_jobs_that_name_it() -> None:
    snap = (
        PolicyBuilder()
        .partition("debug", rates={"cpu_hour": 0})
        .set("clusters.hpc.partitions.debug.routing", "explicit")
        .snapshot()
    )
    routed = decide(snap, cpus=2)
    assert routed.route is not None and routed.route.partition == "cpu"
    assert routed.route.reason == "the only candidate"
    named = decide(snap, cpus=2, partition="debug")
    assert named.allow and named.route is not None and named.route.partition == "debug"
    nothing = decide(snap, cpus=1000)
    assert nothing.codes == [Code.ROUTE_NO_FIT]
    assert {r.partition: [v.code for v in r.violations] for r in nothing.rejected_routes} == {
        "cpu": [Code.LIMIT_MAX_CPUS],
        "debug": [Code.ROUTE_EXPLICIT],
    }
