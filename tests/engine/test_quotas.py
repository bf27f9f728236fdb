"""Budgets over windows on every scope of the account path, and concurrency limits."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from hpcpolicy.engine import Active, Amounts, Code, PolicySnapshot, UsageSnapshot
from tests.builders import NOW, PolicyBuilder, codes, decide, gpu_nodes

# A job of 10 CPU-hours and 5 GPU-hours costs 10 × 1 + 5 × 2 = 20 on the builder's cpu partition.
JOB: dict[str, Any] = {"partition": "cpu", "cpu_hours": 10, "gpu_hours": 5}
JOB_AMOUNTS = {"cpu_hours": 10.0, "gpu_hours": 5.0, "cost": 20.0}
METRIC_CODES = {"cpu_hours": Code.QUOTA_CPU_HOURS, "gpu_hours": Code.QUOTA_GPU_HOURS, "cost": Code.QUOTA_COST}

SCOPES: dict[str, Callable[[PolicyBuilder], Callable[..., PolicyBuilder]]] = {
    "user:u": lambda b: b.user_quota,
    "project:proj": lambda b: b.project_quota,
    "team:team": lambda b: b.team_quota,
    "org:org": lambda b: b.org_quota,
}


def _with_quota(scope: str, **quota: Any) -> PolicySnapshot:
    builder = PolicyBuilder().rates(cpu_hour=1, gpu_hour={"default": 2})
    SCOPES[scope](builder)(**quota)
    return builder.snapshot()


@pytest.mark.parametrize("scope", list(SCOPES))
@pytest.mark.parametrize("metric", list(METRIC_CODES))
def test_every_metric_on_every_scope(scope: str, metric: str) -> None:
    asked = JOB_AMOUNTS[metric]
    fits = decide(_with_quota(scope, **{metric: asked}), **JOB)
    assert fits.allow, fits.codes
    assert fits.remaining[scope] == {metric: 0.0}  # asking exactly the balance is allowed

    over = decide(_with_quota(scope, **{metric: asked - 1}), **JOB)
    [violation] = over.violations
    assert violation.code == METRIC_CODES[metric]
    assert violation.scope == scope
    assert (violation.limit, violation.requested, violation.available) == (asked - 1, asked, asked - 1)
    assert over.remaining[scope] == {metric: -1.0}


@pytest.mark.parametrize("scope", list(SCOPES))
def test_consumption_reduces_the_balance(scope: str) -> None:
    snap = _with_quota(scope, cpu_hours=100)
    full = UsageSnapshot(consumed={scope: Amounts(cpu_hours=95)})
    decision = decide(snap, full, **JOB)
    assert decision.codes == [Code.QUOTA_CPU_HOURS]
    assert decision.violations[0].available == 5
    assert decision.remaining[scope] == {"cpu_hours": -5.0}
    assert decide(snap, UsageSnapshot(consumed={scope: Amounts(cpu_hours=90)}), **JOB).allow


@pytest.mark.parametrize(
    ("used", "says"),
    [
        (95, "CPU-hours 10 exceeds the monthly balance of 5 (limit 100): over by 5"),
        (130, "CPU-hours 10 exceeds the monthly balance of 0 (limit 100): over by 40"),  # already overdrawn
    ],
)
def test_a_denial_says_by_how_much_the_job_is_over(used: float, says: str) -> None:
    snap = _with_quota("project:proj", cpu_hours=100)
    decision = decide(snap, UsageSnapshot(consumed={"project:proj": Amounts(cpu_hours=used)}), **JOB)
    assert decision.violations[0].message == says
    assert decision.remaining["project:proj"] == {"cpu_hours": 100 - used - 10}  # the /v1 contract: signed


def test_a_job_must_fit_every_scope_on_the_path() -> None:
    snap = (
        PolicyBuilder()
        .user_quota(cpu_hours=1000)
        .project_quota(cpu_hours=1000)
        .team_quota(cpu_hours=5)
        .org_quota(cpu_hours=1000)
        .snapshot()
    )
    decision = decide(snap, **JOB)
    assert [(v.code, v.scope) for v in decision.violations] == [(Code.QUOTA_CPU_HOURS, "team:team")]
    assert set(decision.remaining) == {"user:u", "project:proj", "team:team", "org:org"}


def test_several_quota_violations_on_several_scopes_are_all_reported() -> None:
    snap = PolicyBuilder().rates(cpu_hour=1).user_quota(cpu_hours=1).project_quota(cost=1).org_quota(cpu_hours=2)
    decision = decide(snap.snapshot(), **JOB)
    assert [(v.code, v.scope) for v in decision.violations] == [
        (Code.QUOTA_CPU_HOURS, "user:u"),
        (Code.QUOTA_COST, "project:proj"),
        (Code.QUOTA_CPU_HOURS, "org:org"),
    ]


def test_asking_exactly_the_remaining_balance_tolerates_float_rounding() -> None:
    snap = _with_quota("project:proj", cpu_hours=0.3)
    usage = UsageSnapshot(consumed={"project:proj": Amounts(cpu_hours=0.1)})
    assert 0.3 - 0.1 < 0.2  # the float balance is a hair short of what the job asks
    assert decide(snap, usage, partition="cpu", walltime_hours=0.2).allow
    assert not decide(snap, usage, partition="cpu", walltime_hours=0.2001).allow


# -- fixed allocations --------------------------------------------------------------------------------

GRANT = {"start": "2026-01-01", "end": "2026-07-01"}


@pytest.mark.parametrize(
    ("now", "active"),
    [
        (datetime(2025, 12, 31, 23, 59, tzinfo=UTC), False),
        (datetime(2026, 1, 1, tzinfo=UTC), True),  # start is inclusive
        (NOW, True),
        (datetime(2026, 6, 30, 23, 59, tzinfo=UTC), True),
        (datetime(2026, 7, 1, tzinfo=UTC), False),  # end is exclusive
        (datetime(2026, 7, 1), False),  # naive: taken as UTC
    ],
)
def test_fixed_allocation_is_usable_only_inside_its_dates(now: datetime, active: bool) -> None:
    snap = _with_quota("project:proj", name="grant", window=GRANT, cpu_hours=1000)
    decision = decide(snap, now=now, **JOB)
    assert codes(decision) == (set() if active else {Code.QUOTA_INACTIVE})
    if not active:
        assert decision.violations[0].scope == "project:proj#grant"


# -- named quotas -------------------------------------------------------------------------------------


def test_named_quotas_are_keyed_scope_hash_name() -> None:
    snap = (
        PolicyBuilder()
        .project_quota(name="monthly", window="monthly", cpu_hours=100)
        .project_quota(name="grant", window=GRANT, cpu_hours=50)
        .team_quota(name="only", cpu_hours=1000)  # a single named quota keeps its name too
        .snapshot()
    )
    usage = UsageSnapshot(consumed={"project:proj#grant": Amounts(cpu_hours=45), "project:proj": Amounts(cpu_hours=99)})
    decision = decide(snap, usage, **JOB)
    # consumption under the bare scope id belongs to no quota here
    assert [(v.code, v.scope) for v in decision.violations] == [(Code.QUOTA_CPU_HOURS, "project:proj#grant")]
    assert decision.remaining == {
        "project:proj#monthly": {"cpu_hours": 90.0},
        "project:proj#grant": {"cpu_hours": -5.0},
        "team:team#only": {"cpu_hours": 990.0},
    }


# -- default user quota -------------------------------------------------------------------------------


def test_unlisted_user_gets_the_default_user_quota(example_snap: PolicySnapshot) -> None:
    decision = decide(example_snap, user_id="newbie", cpu_hours=12, gpu_hours=2)
    assert decision.allow
    assert decision.remaining["user:newbie"]["cpu_hours"] == pytest.approx(108)
    assert decision.remaining["user:newbie"]["gpu_hours"] == pytest.approx(22)


def test_default_user_quota_is_enforced_and_configurable() -> None:
    snap = PolicyBuilder().defaults(user_quota={"cpu_hours": 5}).snapshot()
    decision = decide(snap, user_id="newbie", **JOB)
    assert [(v.code, v.scope) for v in decision.violations] == [(Code.QUOTA_CPU_HOURS, "user:newbie")]
    # a listed user without quotas of their own is not bound by the default user quota
    assert decide(snap, **JOB).allow


# -- concurrency --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("active_jobs", "allowed"),
    [(0, True), (2, True), (3, False), (7, False)],
)
def test_max_jobs_counts_active_jobs_of_the_scope(active_jobs: int, allowed: bool) -> None:
    snap = _with_quota("team:team", name="n", max_jobs=3)
    usage = UsageSnapshot(active={"team:team": Active(jobs=active_jobs)})  # keyed by scope, not quota id
    decision = decide(snap, usage, **JOB)
    assert codes(decision) == (set() if allowed else {Code.CONCURRENCY_MAX_JOBS})
    assert decision.remaining["team:team#n"] == {"jobs": 3 - active_jobs - 1}
    if not allowed:
        assert decision.violations[0].available == 3 - active_jobs


@pytest.mark.parametrize(
    ("active_gpus", "gpus", "allowed"),
    [(0, 4, True), (4, 4, True), (5, 4, False), (9, 0, True)],  # a CPU job never trips a GPU limit
)
def test_max_gpus_counts_active_gpus_of_the_scope(active_gpus: int, gpus: int, allowed: bool) -> None:
    builder = PolicyBuilder().partition("gpu", nodes=gpu_nodes(count=2, gpus=4))
    snap = builder.user(roles=["gpu_user"]).project_quota(max_gpus=8).snapshot()
    usage = UsageSnapshot(active={"project:proj": Active(gpus=active_gpus)})
    decision = decide(snap, usage, partition="gpu", gpus=gpus, nodes=2)
    assert codes(decision) == (set() if allowed else {Code.CONCURRENCY_MAX_GPUS})
    assert decision.remaining["project:proj"] == {"gpus": 8 - active_gpus - gpus}


def test_max_jobs_zero_admits_nothing() -> None:
    assert decide(_with_quota("user:u", max_jobs=0), **JOB).codes == [Code.CONCURRENCY_MAX_JOBS]


def test_example_policy_concurrency(example_snap: PolicySnapshot) -> None:
    usage = UsageSnapshot(active={"user:newbie": Active(jobs=5)})
    assert decide(example_snap, usage, user_id="newbie").codes == [Code.CONCURRENCY_MAX_JOBS]
    gpus = UsageSnapshot(active={"team:ml-research": Active(gpus=90)})
    decision = decide(example_snap, gpus, user_id="carol", partition="dgx-a100", gpus=8)
    expected = [(Code.CONCURRENCY_MAX_GPUS, "team:ml-research#monthly")]  # the team's A100 slice is idle
    assert [(v.code, v.scope) for v in decision.violations] == expected
