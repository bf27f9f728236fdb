"""Opening hours (policy v2): a partition takes jobs at some times of the week, some callers at any time."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from hpcpolicy.engine import (
    Active,
    Amounts,
    Code,
    PolicySnapshot,
    Request,
    UsageSnapshot,
    decide,
    decide_balances,
    prepare,
)
from hpcpolicy.engine.hours import opening_hours
from hpcpolicy.policy.schema.schedule import Schedule
from tests.builders import PolicyBuilder
from tests.builders import decide as decide_at

OFFICE = {
    "timezone": "Europe/Berlin",
    "open": [{"days": ["mon", "tue", "wed", "thu", "fri"], "from": "08:00", "to": "20:00"}],
    "exempt": {"roles": ["staff"]},
}
WED_NOON = datetime(2026, 3, 11, 11, 0, tzinfo=UTC)  # 12:00 in Berlin (CET)
SAT_NOON = datetime(2026, 3, 14, 11, 0, tzinfo=UTC)


def _snap(schedule: dict[str, Any], extra: dict[str, Any] | None = None) -> PolicySnapshot:
    """``interactive`` (cheapest, with ``schedule``) beside ``cpu`` (always open)."""
    b = PolicyBuilder().partition("interactive", rates={"cpu_hour": 0.5})
    b.set("clusters.hpc.partitions.interactive.schedule", schedule)
    for name, spec in (extra or {}).items():
        b.partition(name, rates={"cpu_hour": 0.7}).set(f"clusters.hpc.partitions.{name}.schedule", spec)
    return b.snapshot()


def test_a_named_partition_is_closed_outside_its_hours() -> None:
    snap = _snap(OFFICE)
    assert decide_at(snap, partition="interactive", now=WED_NOON).allow
    closed = decide_at(snap, partition="interactive", now=SAT_NOON)
    assert closed.codes == [Code.PARTITION_CLOSED]
    [v] = closed.violations
    assert v.scope == "partition:interactive"
    assert v.limit == "mon-fri 08:00-20:00 (Europe/Berlin)" and v.requested == "sat 12:00"
    assert v.message == (
        "partition interactive is closed at sat 12:00; it takes jobs mon-fri 08:00-20:00 (Europe/Berlin) "
        "(next opens mon 08:00)"
    )


def test_exempt_callers_ignore_the_hours() -> None:
    snap = _snap(OFFICE)
    staff = decide_at(snap, partition="interactive", roles=("staff",), now=SAT_NOON)
    assert staff.allow
    assert prepare(Request(user_id="u", partition="interactive", roles=("staff",)), snap).opening is None


def test_hours_are_local_wall_clock_time_across_dst() -> None:
    snap = _snap(OFFICE)
    winter, summer = datetime(2026, 3, 16, 6, 30, tzinfo=UTC), datetime(2026, 4, 6, 6, 30, tzinfo=UTC)  # Mondays
    assert decide_at(snap, partition="interactive", now=winter).codes == [Code.PARTITION_CLOSED]  # 07:30 CET
    assert decide_at(snap, partition="interactive", now=summer).allow  # 08:30 CEST
    last = datetime(2026, 3, 27, 18, 59, tzinfo=UTC)  # a Friday, 19:59 CET
    assert decide_at(snap, partition="interactive", now=last).allow


def test_a_window_may_run_past_midnight() -> None:
    nights = {"open": [{"days": ["fri", "sun"], "from": "19:00", "to": "07:00"}]}
    hours = opening_hours(Schedule.model_validate(nights))
    fri = datetime(2026, 3, 13, tzinfo=UTC)
    at = {
        "fri 18:59": (fri.replace(hour=18, minute=59), False),
        "fri 19:00": (fri.replace(hour=19), True),
        "fri 23:59": (fri.replace(hour=23, minute=59), True),
        "sat 06:59": (fri.replace(day=14, hour=6, minute=59), True),
        "sat 07:00": (fri.replace(day=14, hour=7), False),
        "sun 22:00": (fri.replace(day=15, hour=22), True),
        "mon 03:00": (fri.replace(day=16, hour=3), True),  # sunday's night runs into the next week
        "mon 08:00": (fri.replace(day=16, hour=8), False),
    }
    assert {label: hours.open_at(moment) for label, (moment, _) in at.items()} == {
        label: expected for label, (_, expected) in at.items()
    }
    assert hours.label == "fri,sun 19:00-07:00 (UTC)"
    assert hours.next_opening(fri.replace(day=14, hour=8)) == "sun 19:00"


def test_routing_falls_back_to_the_next_open_partition() -> None:
    snap = _snap(OFFICE)
    plan = prepare(Request(user_id="u", cpus=2), snap)
    at_noon = decide(plan, now=WED_NOON)
    assert at_noon.route is not None and at_noon.route.partition == "interactive"
    assert at_noon.route.reason == "cheapest of 2 candidates"
    weekend = decide(plan, now=SAT_NOON)  # the same plan, another time
    assert weekend.allow and weekend.route is not None and weekend.route.partition == "cpu"
    assert weekend.route.reason == "cheapest open of 2 candidates; closed now: interactive"
    assert weekend.estimate.cost == 2 * 1.0 and at_noon.estimate.cost == 2 * 0.5
    assert plan.opening is not None and [p.route for p in plan.opening.plans] == [weekend.route]
    assert decide(plan, now=SAT_NOON) == weekend and decide(plan, now=WED_NOON) == at_noon
    staff = decide_at(snap, cpus=2, roles=("staff",), now=SAT_NOON)
    assert staff.route is not None and staff.route.partition == "interactive"


def test_every_accepting_partition_closed_is_a_denial_naming_each() -> None:
    night = {"open": [{"from": "20:00", "to": "06:00"}]}
    snap = _snap(OFFICE, {"evening": night})
    saturday = decide_at(snap, cpus=2, now=SAT_NOON, cluster="hpc", memory_gb=1)
    assert saturday.route is not None and saturday.route.partition == "cpu"  # cpu is still open
    no_cpu = PolicyBuilder().partition("interactive", rates={"cpu_hour": 0.5}).partition("evening")
    no_cpu.data["clusters"]["hpc"]["partitions"].pop("cpu")
    no_cpu.set("clusters.hpc.partitions.interactive.schedule", OFFICE)
    no_cpu.set("clusters.hpc.partitions.evening.schedule", night)
    closed = decide_at(no_cpu.snapshot(), cpus=2, now=SAT_NOON)
    assert not closed.allow and closed.route is not None and closed.route.partition == "interactive"
    assert [(v.code, v.scope) for v in closed.violations] == [
        (Code.PARTITION_CLOSED, "partition:interactive"),
        (Code.PARTITION_CLOSED, "partition:evening"),
    ]
    late = decide_at(no_cpu.snapshot(), cpus=2, now=SAT_NOON.replace(hour=21))
    assert late.allow and late.route is not None and late.route.partition == "evening"


def test_the_fallback_is_decided_against_its_own_quotas_and_balances() -> None:
    snap = PolicyBuilder().partition("interactive", rates={"cpu_hour": 0.5}).project_quota(max_jobs=1, cost=100)
    snap.set("clusters.hpc.partitions.interactive.schedule", OFFICE)
    plan = prepare(Request(user_id="u", cpus=2, walltime_hours=1), snap.snapshot())
    full = UsageSnapshot(active={"project:proj": Active(jobs=1)})
    used = [(0.0, 0.0, 0.0) for _ in plan.quotas]
    active = [full.active.get(ref.scope, Active()) for ref in plan.quotas]
    assert decide(plan, full, now=SAT_NOON) == decide_balances(plan, used, active, now=SAT_NOON)
    assert decide(plan, full, now=SAT_NOON).codes == [Code.CONCURRENCY_MAX_JOBS]


def test_no_schedules_no_opening() -> None:
    snap = PolicyBuilder().partition("other").snapshot()
    assert prepare(Request(user_id="u"), snap).opening is None
    assert prepare(Request(user_id="u", partition="other"), snap).opening is None


def test_the_usage_to_read_covers_the_fallbacks_own_quotas() -> None:
    """``cpu`` has a quota on its slice that ``interactive`` does not: a decision may need its usage."""
    b = PolicyBuilder().partition("interactive", rates={"cpu_hour": 0.5})
    b.set("clusters.hpc.partitions.interactive.schedule", OFFICE)
    b.project_quota(name="cpu", cpu_hours=10, slice={"partitions": ["cpu"]})
    plan = prepare(Request(user_id="u", cpus=2, walltime_hours=1), b.snapshot())
    assert plan.quotas == ()  # u and proj have no quotas of their own here
    assert [ref.id for ref in plan.usage_quotas] == ["project:proj#cpu"] and not plan.simple
    spent = UsageSnapshot({"project:proj#cpu": Amounts(cpu_hours=10)})
    assert decide(plan, spent, now=SAT_NOON).codes == [Code.QUOTA_CPU_HOURS]
    assert decide(plan, spent, now=WED_NOON).allow
    assert decide_balances(plan, [], [], now=WED_NOON).allow
    with pytest.raises(ValueError, match=r"plan\.usage_quotas"):  # balances given for the route's quotas only
        decide_balances(plan, [], [], now=SAT_NOON)
