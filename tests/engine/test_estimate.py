"""Estimates: resource-hours from the request or resources × walltime, cost from the partition's rates."""

from __future__ import annotations

from typing import Any

import pytest

from hpcpolicy.engine import Estimate, PolicySnapshot
from tests.builders import PolicyBuilder, decide, gpu_nodes


def _snap(limits: dict[str, Any] | None = None, walltime: float | None = None) -> PolicySnapshot:
    builder = PolicyBuilder().rates(cpu_hour=0.5, memory_gb_hour=0.01).user(roles=["gpu_user"])
    builder.partition("gpu", nodes=gpu_nodes(gpus=4, gpu_type="a100"), rates={"gpu_hour": {"a100": 3, "default": 1}})
    if limits:
        builder.limits(**limits)
    if walltime is not None:
        builder.defaults(walltime_hours=walltime)
    return builder.snapshot()


@pytest.mark.parametrize(
    ("limits", "policy_default", "request_fields", "walltime"),
    [
        ({"default_walltime_hours": 4}, 2, {"walltime_hours": 3}, 3),  # the request wins
        ({"default_walltime_hours": 4}, 2, {}, 4),  # else the partition's default
        ({}, 2, {}, 2),  # else the policy's default
        ({}, None, {}, 1),  # whose own default is one hour
    ],
)
def test_walltime_resolution(
    limits: dict[str, Any], policy_default: float | None, request_fields: dict[str, Any], walltime: float
) -> None:
    decision = decide(_snap(limits, policy_default), partition="cpu", cpus=2, **request_fields)
    assert decision.estimate.walltime_hours == walltime
    assert decision.estimate.cpu_hours == 2 * walltime


@pytest.mark.parametrize(
    ("request_fields", "cpu_hours", "gpu_hours"),
    [
        ({"cpus": 4, "gpus": 2, "walltime_hours": 3}, 12, 6),
        # declared hours never lower the estimate below resources × walltime ...
        ({"cpus": 4, "gpus": 2, "walltime_hours": 3, "cpu_hours": 1}, 12, 6),
        ({"cpus": 4, "gpus": 2, "walltime_hours": 3, "gpu_hours": 0}, 12, 6),
        ({"cpus": 64, "walltime_hours": 100, "cpu_hours": 1}, 6400, 0),
        # ... but may raise it (the original service sent hours only)
        ({"cpus": 4, "gpus": 2, "walltime_hours": 3, "cpu_hours": 20, "gpu_hours": 9}, 20, 9),
        ({"cpus": 1, "gpus": 0, "walltime_hours": 1, "cpu_hours": 7.5, "gpu_hours": 2.5}, 7.5, 2.5),
    ],
)
def test_hours_from_request_or_resources_times_walltime(
    request_fields: dict[str, Any], cpu_hours: float, gpu_hours: float
) -> None:
    decision = decide(_snap(), partition="gpu", **request_fields)
    assert (decision.estimate.cpu_hours, decision.estimate.gpu_hours) == (cpu_hours, gpu_hours)


def test_cost_from_cpu_and_memory_rates() -> None:
    decision = decide(_snap(), partition="cpu", cpus=4, memory_gb=100, walltime_hours=2)
    # 8 CPU-hours × 0.5 + 100 GB × 2 h × 0.01
    assert decision.estimate == Estimate(cpu_hours=8, gpu_hours=0, cost=pytest.approx(6.0), walltime_hours=2)


@pytest.mark.parametrize(
    ("gpu_hour", "gpu_type", "rate"),
    [
        ({"a100": 3, "default": 1}, None, 3),  # the nodes' own type
        ({"a100": 3, "default": 1}, "a100", 3),
        ({"default": 1}, None, 1),  # fallback
        ({"h100": 9}, None, 0),  # nothing matches: GPU-hours are free (lint warns about this)
    ],
)
def test_gpu_rate_by_type_with_default_fallback(gpu_hour: dict[str, float], gpu_type: str | None, rate: float) -> None:
    snap = PolicyBuilder().partition("gpu", nodes=gpu_nodes(), rates={"gpu_hour": gpu_hour}).snapshot()
    decision = decide(snap, partition="gpu", gpus=2, gpu_type=gpu_type, walltime_hours=5, roles=("gpu_user",))
    assert decision.estimate.cost == pytest.approx(2 * 5 * rate)


def test_memory_is_charged_over_the_walltime_even_when_hours_are_given() -> None:
    decision = decide(_snap(), partition="cpu", cpu_hours=10, memory_gb=50, walltime_hours=4)
    assert decision.estimate.cost == pytest.approx(10 * 0.5 + 50 * 4 * 0.01)


def test_no_partition_means_no_cost() -> None:
    decision = decide(_snap(), partition="nope", cpus=4, walltime_hours=2)
    assert decision.estimate == Estimate(cpu_hours=8, gpu_hours=0, cost=0.0, walltime_hours=2)


def test_example_policy_gpu_estimate(example_snap: PolicySnapshot) -> None:
    decision = decide(example_snap, user_id="bob", partition="gpu", cpus=8, gpus=2, memory_gb=64)
    # gpu partition: default walltime 4 h; 0.02/CPU-h, 1.0/l40s-h, 0.0005/GB-h
    assert decision.estimate.walltime_hours == 4
    assert decision.estimate.cost == pytest.approx(32 * 0.02 + 8 * 1.0 + 64 * 4 * 0.0005)
    assert decision.to_dict()["estimate"] == decision.estimate.to_dict()
