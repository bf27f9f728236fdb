"""Role guards: GPU use at all, and jobs whose estimated cost is above a threshold."""

from __future__ import annotations

import pytest

from hpcpolicy.engine import Active, Code, PolicySnapshot, UsageSnapshot
from tests.builders import PolicyBuilder, codes, decide, gpu_nodes


def _gpu_policy(**guards: object) -> PolicySnapshot:
    builder = PolicyBuilder().partition("gpu", nodes=gpu_nodes(), rates={"gpu_hour": {"a100": 10}})
    return builder.guards(**guards).snapshot()


@pytest.mark.parametrize(
    ("guards", "roles", "expected"),
    [
        ({}, (), {Code.GPU_ROLE_REQUIRED}),  # the default guard asks for gpu_user
        ({}, ("gpu_user",), set()),
        ({"gpu": {"role": "accel"}}, ("gpu_user",), {Code.GPU_ROLE_REQUIRED}),
        ({"gpu": {"role": "accel"}}, ("accel",), set()),
        ({"gpu": None}, (), set()),  # guard switched off
    ],
)
def test_gpu_guard(guards: dict[str, object], roles: tuple[str, ...], expected: set[str]) -> None:
    decision = decide(_gpu_policy(**guards), partition="gpu", gpus=1, roles=roles)
    assert codes(decision) == expected
    if expected:
        [violation] = decision.violations
        assert violation.scope == "user:u"


def test_gpu_guard_ignores_cpu_jobs() -> None:
    assert decide(_gpu_policy(), partition="gpu", gpus=0).allow


EXPENSIVE = {"expensive_job": {"cost_threshold": 100, "role": "pi"}}


@pytest.mark.parametrize(
    ("walltime", "roles", "expected"),
    [
        (10, (), set()),  # 1 GPU × 10 h × 10 = exactly 100: not above the threshold
        (10.5, (), {Code.COST_ROLE_REQUIRED}),
        (10.5, ("pi",), set()),
        (1000, ("pi",), set()),
    ],
)
def test_expensive_job_guard(walltime: float, roles: tuple[str, ...], expected: set[str]) -> None:
    snap = _gpu_policy(**EXPENSIVE)
    decision = decide(snap, partition="gpu", gpus=1, walltime_hours=walltime, roles=("gpu_user", *roles))
    assert codes(decision) == expected
    if expected:
        [violation] = decision.violations
        assert violation.limit == 100
        assert violation.requested == pytest.approx(walltime * 10)


def test_expensive_job_guard_uses_the_routed_partitions_cost() -> None:
    # routing picks the cheap partition, whose cost stays under the threshold
    snap = PolicyBuilder().partition("pricey", rates={"cpu_hour": 50}).guards(**EXPENSIVE).snapshot()
    decision = decide(snap, cpus=10, walltime_hours=5)
    assert decision.allow
    assert decision.route is not None and decision.route.partition == "cpu"
    forced = decide(snap, partition="pricey", cpus=10, walltime_hours=5)
    assert codes(forced) == {Code.COST_ROLE_REQUIRED}


def test_no_expensive_job_guard_by_default() -> None:
    assert decide(_gpu_policy(), cpus=32, walltime_hours=1000, partition="cpu").allow


def test_every_failing_rule_is_reported_at_once() -> None:
    snap = (
        PolicyBuilder()
        .partition("gpu", nodes=gpu_nodes(), limits={"max_walltime_hours": 10}, rates={"gpu_hour": {"a100": 10}})
        .guards(**EXPENSIVE)
        .project_quota(gpu_hours=5, max_jobs=1)
        .team_quota(cost=50)
        .snapshot()
    )
    usage = UsageSnapshot(active={"project:proj": Active(jobs=1)})
    decision = decide(snap, usage, partition="gpu", gpus=2, walltime_hours=12)
    assert codes(decision) == {
        Code.LIMIT_MAX_WALLTIME,
        Code.GPU_ROLE_REQUIRED,
        Code.COST_ROLE_REQUIRED,
        Code.QUOTA_GPU_HOURS,
        Code.CONCURRENCY_MAX_JOBS,
        Code.QUOTA_COST,
    }
    assert not decision.allow
