"""Partition-level rules: naming a cluster/partition, access lists, per-job caps and GPU types."""

from __future__ import annotations

from typing import Any

import pytest

from hpcpolicy.engine import Code, PolicySnapshot
from tests.builders import PolicyBuilder, codes, decide, gpu_nodes

BIG_LIMITS = {"max_cpus": 64, "max_gpus": 8, "max_memory_gb": 256, "max_nodes": 2, "max_walltime_hours": 24}


def _big() -> PolicySnapshot:
    """Partition ``big``: 4 nodes × (64 CPUs, 512 GB, 4 a100), capped per job by BIG_LIMITS."""
    return PolicyBuilder().partition("big", nodes=gpu_nodes(4), limits=BIG_LIMITS).user(roles=["gpu_user"]).snapshot()


# -- naming -------------------------------------------------------------------------------------------


def test_unknown_cluster() -> None:
    decision = decide(PolicyBuilder().snapshot(), cluster="mars")
    assert decision.codes == [Code.CLUSTER_UNKNOWN]
    assert decision.route is None


def test_unknown_partition() -> None:
    decision = decide(PolicyBuilder().snapshot(), partition="nope")
    assert decision.codes == [Code.PARTITION_UNKNOWN]
    assert decision.route is None


def test_partition_on_another_cluster_is_unknown_on_the_named_one() -> None:
    snap = PolicyBuilder().partition("gpu", cluster="kube", nodes=gpu_nodes()).snapshot()
    assert decide(snap, cluster="hpc", partition="gpu").codes == [Code.PARTITION_UNKNOWN]


def test_same_partition_name_on_two_clusters_is_ambiguous_until_the_cluster_is_named() -> None:
    snap = PolicyBuilder().partition("cpu", cluster="other").snapshot()
    assert decide(snap, partition="cpu").codes == [Code.PARTITION_AMBIGUOUS]
    for cluster in ("hpc", "other"):
        decision = decide(snap, partition="cpu", cluster=cluster)
        assert decision.allow
        assert decision.route is not None and decision.route.cluster == cluster


# -- access -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("access", "request_fields", "expected"),
    [
        ({"roles": ["dgx"]}, {}, {Code.PARTITION_ROLE_REQUIRED}),
        ({"roles": ["dgx", "other"]}, {"roles": ("other",)}, set()),
        ({"deny_roles": ["student"]}, {"roles": ("student",)}, {Code.PARTITION_ACCESS_DENIED}),
        ({"deny_roles": ["student"]}, {"roles": ("staff",)}, set()),
        ({"roles": ["dgx"], "deny_roles": ["student"]}, {"roles": ("dgx", "student")}, {Code.PARTITION_ACCESS_DENIED}),
        ({"deny_projects": ["proj"]}, {}, {Code.PARTITION_ACCESS_DENIED}),
        ({"projects": ["other"]}, {}, {Code.PARTITION_ACCESS_DENIED}),
        ({"projects": ["other"]}, {"user_id": "stranger"}, {Code.PARTITION_ACCESS_DENIED}),  # no project at all
        ({"projects": ["proj", "other"]}, {}, set()),
        ({"projects": ["proj"], "deny_projects": ["proj"]}, {}, {Code.PARTITION_ACCESS_DENIED}),  # deny wins
    ],
)
def test_access_lists(access: dict[str, list[str]], request_fields: dict[str, Any], expected: set[str]) -> None:
    snap = PolicyBuilder().project("other").access(**access).snapshot()
    decision = decide(snap, partition="cpu", **request_fields)
    assert codes(decision) == expected
    assert decision.allow is (not expected)


def test_role_requirement_and_deny_list_are_both_reported() -> None:
    snap = PolicyBuilder().access(roles=["dgx"], deny_projects=["proj"]).snapshot()
    assert decide(snap, partition="cpu").codes == [Code.PARTITION_ROLE_REQUIRED, Code.PARTITION_ACCESS_DENIED]


# -- caps ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("request_fields", "expected"),
    [
        ({"cpus": 64, "nodes": 2}, set()),
        ({"cpus": 65, "nodes": 2}, {Code.LIMIT_MAX_CPUS}),
        ({"gpus": 8, "nodes": 2}, set()),
        ({"gpus": 9, "nodes": 2}, {Code.LIMIT_MAX_GPUS}),
        ({"memory_gb": 256, "nodes": 2}, set()),
        ({"memory_gb": 256.5, "nodes": 2}, {Code.LIMIT_MAX_MEMORY}),
        ({"nodes": 3}, {Code.LIMIT_MAX_NODES}),
        ({"walltime_hours": 24}, set()),
        ({"walltime_hours": 24.01}, {Code.LIMIT_MAX_WALLTIME}),
        # per node: the total fits, one node does not
        ({"cpus": 64, "nodes": 1}, set()),
        ({"cpus": 33, "nodes": 1, "memory_gb": 1}, set()),
        ({"gpus": 5, "nodes": 1}, {Code.LIMIT_GPUS_PER_NODE}),
        ({"gpus": 5, "nodes": 2}, set()),
        ({"memory_gb": 513, "nodes": 1}, {Code.LIMIT_MAX_MEMORY}),
        # several caps at once are all reported
        ({"cpus": 100, "gpus": 10, "nodes": 5, "walltime_hours": 48}, {
            Code.LIMIT_MAX_CPUS, Code.LIMIT_MAX_GPUS, Code.LIMIT_MAX_NODES, Code.LIMIT_MAX_WALLTIME,
        }),
    ],
)
def test_job_caps(request_fields: dict[str, Any], expected: set[str]) -> None:
    decision = decide(_big(), partition="big", **request_fields)
    assert codes(decision) == expected


def test_per_node_shares_are_checked_only_when_the_total_fits() -> None:
    snap = PolicyBuilder().limits(max_cpus=256, max_memory_gb=1024).user(roles=["gpu_user"]).snapshot()
    # the cpu partition: 4 nodes × 32 CPUs × 128 GB, no GPUs
    assert codes(decide(snap, partition="cpu", cpus=33, nodes=1)) == {Code.LIMIT_CPUS_PER_NODE}
    assert codes(decide(snap, partition="cpu", cpus=65, nodes=2)) == {Code.LIMIT_CPUS_PER_NODE}  # ceil(65 / 2) = 33
    assert codes(decide(snap, partition="cpu", cpus=64, nodes=2)) == set()
    assert codes(decide(snap, partition="cpu", memory_gb=129, nodes=1)) == {Code.LIMIT_MEMORY_PER_NODE}
    assert codes(decide(snap, partition="cpu", memory_gb=256, nodes=2)) == set()
    # over the (hardware) total: only the total is reported, not the per-node share as well
    assert codes(decide(snap, partition="cpu", cpus=129, nodes=1)) == {Code.LIMIT_MAX_CPUS}
    assert codes(decide(snap, partition="cpu", memory_gb=513, nodes=1)) == {Code.LIMIT_MAX_MEMORY}
    big = _big()
    assert codes(decide(big, partition="big", gpus=9, nodes=1)) == {Code.LIMIT_MAX_GPUS}


@pytest.mark.parametrize(
    ("cap", "asked", "limit"),
    [
        (None, 128, None),  # no cap: the hardware (4 × 32 CPUs) holds
        (None, 129, 128),
        (1000, 129, 128),  # a cap above the hardware is bounded by it
        (16, 17, 16),
    ],
)
def test_missing_or_oversized_caps_fall_back_to_hardware(cap: int | None, asked: int, limit: int | None) -> None:
    builder = PolicyBuilder()
    if cap is not None:
        builder.limits(max_cpus=cap)
    decision = decide(builder.snapshot(), partition="cpu", cpus=asked, nodes=4)
    if limit is None:
        assert decision.allow
    else:
        [violation] = decision.violations
        assert (violation.code, violation.limit, violation.requested) == (Code.LIMIT_MAX_CPUS, limit, asked)
        assert violation.scope == "partition:cpu"


def test_gpus_on_a_cpu_partition_exceed_its_zero_gpu_cap() -> None:
    decision = decide(PolicyBuilder().user(roles=["gpu_user"]).snapshot(), partition="cpu", gpus=1)
    assert codes(decision) == {Code.LIMIT_MAX_GPUS}


def test_walltime_cap_applies_to_the_partition_default_walltime() -> None:
    snap = PolicyBuilder().limits(max_walltime_hours=2).defaults(walltime_hours=3).snapshot()
    assert codes(decide(snap, partition="cpu")) == {Code.LIMIT_MAX_WALLTIME}
    assert codes(decide(snap, partition="cpu", walltime_hours=2)) == set()


# -- GPU types ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("gpu_types", "wanted", "ok"),
    [
        (None, "a100", True),
        (None, "h100", False),  # not the nodes' type
        (["a100"], "a100", True),
        (["h100"], "a100", False),  # the nodes' type, but not allowed here
        (["a100", "h100"], "h100", False),  # allowed, but the nodes do not have it
    ],
)
def test_gpu_type(gpu_types: list[str] | None, wanted: str, ok: bool) -> None:
    builder = PolicyBuilder().partition("gpu", nodes=gpu_nodes()).user(roles=["gpu_user"])
    if gpu_types is not None:
        builder.limits("gpu", gpu_types=gpu_types)
    decision = decide(builder.snapshot(), partition="gpu", gpus=1, gpu_type=wanted)
    assert codes(decision) == (set() if ok else {Code.LIMIT_GPU_TYPE})


def test_gpu_type_on_a_partition_without_gpus() -> None:
    decision = decide(PolicyBuilder().snapshot(), partition="cpu", gpu_type="a100")
    assert codes(decision) == {Code.LIMIT_GPU_TYPE}
