"""What happens at a budget's edge (policy v2): warnings, overdraft, carry-over, ended grants, rerouting,
and a project's guaranteed share of its team's budget."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from hpcpolicy.engine import Active, Amounts, UsageSnapshot
from tests.builders import NOW, PolicyBuilder, decide

JOB = {"partition": "cpu", "cpus": 10, "walltime_hours": 1}  # 10 CPU-hours


def used(quota_id: str, cpu_hours: float, **more: Amounts) -> UsageSnapshot:
    return UsageSnapshot(consumed={quota_id: Amounts(cpu_hours=cpu_hours), **more})


def test_warn_at_adds_a_warning_to_an_allow_and_changes_nothing_else() -> None:
    snap = PolicyBuilder().project_quota(cpu_hours=100, warn_at=[0.8, 0.5]).snapshot()
    quiet = decide(snap, used("project:proj", 30), **JOB)
    assert quiet.allow and quiet.warnings == ()
    loud = decide(snap, used("project:proj", 75), **JOB)  # 85 % after the job: past 80 %
    assert loud.allow and loud.warning_codes == ["quota.warn_threshold"]
    warning = loud.warnings[0]
    assert warning.scope == "project:proj" and warning.limit == 80 and "85%" in warning.message
    assert loud.to_dict()["warnings"][0]["code"] == "quota.warn_threshold"


def test_an_overdraft_admits_past_the_limit_with_a_warning_and_no_further() -> None:
    snap = PolicyBuilder().project_quota(cpu_hours=100, overdraft={"cpu_hours": 15}).snapshot()
    inside = decide(snap, used("project:proj", 95), **JOB)  # 105: 5 into the overdraft
    assert inside.allow and inside.warning_codes == ["quota.overdraft"] and inside.warnings[0].requested == 5
    beyond = decide(snap, used("project:proj", 110), **JOB)  # 120: past limit + overdraft
    assert beyond.codes == ["quota.cpu_hours_exceeded"] and "over by 20" in beyond.violations[0].message


def test_carry_over_adds_part_of_last_windows_unused_budget() -> None:
    snap = PolicyBuilder().project_quota(cpu_hours=100, carry_over={"fraction": 0.5, "max": {"cpu_hours": 30}})
    snapshot = snap.snapshot()
    # last month used 40 of 100: half of the 60 unused (30, the cap) carries into this month
    carried = UsageSnapshot(consumed={"project:proj": Amounts(cpu_hours=100)}, previous={"project:proj": Amounts(40)})
    decision = decide(snapshot, carried, **JOB)
    assert decision.allow and decision.remaining["project:proj"]["cpu_hours"] == 20
    stingy = UsageSnapshot(consumed={"project:proj": Amounts(cpu_hours=100)}, previous={"project:proj": Amounts(95)})
    assert not decide(snapshot, stingy, **JOB).allow  # 2.5 carried: not enough for 10


def test_no_previous_usage_carries_the_cap() -> None:
    snap = PolicyBuilder().project_quota(cpu_hours=100, carry_over={"fraction": 1.0, "max": {"cpu_hours": 25}})
    idle_before = UsageSnapshot(consumed={"project:proj": Amounts(cpu_hours=110)})
    assert decide(snap.snapshot(), idle_before, **JOB).allow  # all 100 unused last month; capped at 25


def test_an_ended_grant_stops_only_its_own_metrics() -> None:
    grant = {"name": "grant", "window": {"start": "2025-01-01", "end": "2026-01-01"}, "gpu_hours": 1000}
    b = PolicyBuilder().partition("gpu", nodes={"count": 1, "cpus": 8, "memory_gb": 64, "gpus": 4, "gpu_type": "a"})
    snap = b.guards(gpu=None).project_quota(**grant).snapshot()
    assert decide(snap, **JOB).allow  # a CPU-only job is not stopped by an ended GPU grant
    gpu_job = decide(snap, partition="gpu", gpus=1, walltime_hours=1)
    assert gpu_job.codes == ["quota.allocation_inactive"]


def test_on_exhausted_reroutes_to_the_overrun_partition_instead_of_denying() -> None:
    b = PolicyBuilder().partition("overrun", rates={"cpu_hour": 0.0})
    b.set("clusters.hpc.partitions.overrun.hour_weights", {"cpu": 0})
    b.project_quota(cpu_hours=100, on_exhausted={"partition": "overrun"})
    snap = b.snapshot()
    spent = used("project:proj", 95)
    decision = decide(snap, spent, **JOB)
    assert decision.allow and decision.route is not None and decision.route.partition == "overrun"
    assert decision.warning_codes == ["quota.exhausted_rerouted"] and decision.estimate.cpu_hours == 0
    assert decide(snap, used("project:proj", 50), **JOB).route.partition == "cpu"  # type: ignore[union-attr]
    # a job the overrun partition cannot take either stays denied, with the original reasons
    b.limits("overrun", max_cpus=4)
    assert decide(b.snapshot(), spent, **JOB).codes == ["quota.cpu_hours_exceeded"]


def test_on_exhausted_does_not_override_other_rules() -> None:
    b = PolicyBuilder().partition("overrun", rates={"cpu_hour": 0.0})
    snap = b.project_quota(cpu_hours=100, on_exhausted={"partition": "overrun"}).user_quota(cpu_hours=5).snapshot()
    both = decide(snap, used("project:proj", 95), **JOB)  # the user's own quota refuses it too
    assert not both.allow and set(both.codes) == {"quota.cpu_hours_exceeded"} and len(both.codes) == 2


def shares() -> PolicyBuilder:
    """team quota of 100 CPU-hours; proj guaranteed 40 (may borrow 20 more), sib guaranteed 30."""
    b = PolicyBuilder().project("sib").user("u", projects=["proj", "sib"], default_project="proj")
    b.team_quota(cpu_hours=100)
    proj = {"guaranteed": {"cpu_hours": 40}, "borrow_limit": {"cpu_hours": 20}}
    b.set("orgs.org.teams.team.projects.proj.share", proj)
    b.set("orgs.org.teams.team.projects.sib.share", {"guaranteed": {"cpu_hours": 30}})
    return b


def test_siblings_cannot_eat_a_projects_guarantee() -> None:
    snap = shares().snapshot()
    # sib already used 60 of the team's 100; proj used nothing: its 40 are protected from sib
    usage = UsageSnapshot(consumed={"team:team": Amounts(60), "team:team@project:sib": Amounts(60)})
    assert decide(snap, usage, project="proj", **JOB).allow
    denied = decide(snap, usage, project="sib", **JOB)
    assert denied.codes == ["quota.share_exceeded"] and "guaranteed" in denied.violations[0].message
    assert denied.remaining["team:team"]["cpu_hours"] == pytest.approx(-10)


def test_borrowing_stops_at_the_limit() -> None:
    snap = shares().snapshot()
    usage = UsageSnapshot(consumed={"team:team": Amounts(55), "team:team@project:proj": Amounts(55)})
    denied = decide(snap, usage, project="proj", **JOB)  # 55 + 10 > 40 guaranteed + 20 borrowed
    assert denied.codes == ["quota.share_exceeded"] and "60 of it at most" in denied.violations[0].message
    assert decide(snap, usage, project="proj", partition="cpu", cpus=5, walltime_hours=1).allow


def test_soft_limits_are_v2() -> None:
    from hpcpolicy.policy import PolicyError, parse_policy

    v1 = PolicyBuilder().project_quota(cpu_hours=1, warn_at=[0.5])
    v1.data["apiVersion"] = "hpcpolicy/v1"
    with pytest.raises(PolicyError, match="warn_at: is part of hpcpolicy/v2"):
        parse_policy(v1.yaml(), env={})


def test_previous_bounds_are_the_calendar_window_before() -> None:
    ref = PolicyBuilder().project_quota(cpu_hours=1, window="quarterly").snapshot().quotas_for("project:proj")[0]
    assert ref.previous_bounds(NOW) == (datetime(2025, 10, 1, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC))
    rolling = PolicyBuilder().project_quota(cpu_hours=1, window={"rolling_days": 7}).snapshot()
    assert rolling.quotas_for("project:proj")[0].previous_bounds(NOW) is None


def test_lint_catches_edges_that_cannot_work() -> None:
    b = shares().project_quota(cpu_hours=1, window={"rolling_days": 7}, carry_over={"fraction": 0.5})
    b.set("orgs.org.teams.team.projects.sib.share", {"guaranteed": {"cpu_hours": 70, "gpu_hours": 1}})
    b.user_quota(cpu_hours=5, on_exhausted={"partition": "nowhere"})
    b.project("lone").set("orgs.org.teams.team.projects.lone.share", {"quota": "monthly", "guaranteed": {"cost": 1}})
    found = {".".join(map(str, i.path)): i.message for i in b.lint_issues() if i.severity == "error"}
    assert "calendar window" in found["orgs.org.teams.team.projects.proj.quotas.0.carry_over"]
    assert "unknown partition 'nowhere'" in found["users.u.quotas.0.on_exhausted.partition"]
    assert "does not limit gpu_hours" in found["orgs.org.teams.team.projects.sib.share.guaranteed.gpu_hours"]
    assert "add up to 110" in found["orgs.org.teams.team.quotas.0.cpu_hours"]
    assert "no quota monthly" in found["orgs.org.teams.team.projects.lone.share.quota"]


def test_on_exhausted_can_send_a_job_to_a_qos_where_that_budget_binds_it_no_more() -> None:
    b = PolicyBuilder().set("clusters.hpc.qos", {"overrun": {"limits": {"max_walltime_hours": 2}}})
    snap = b.project_quota(cpu_hours=100, on_exhausted={"qos": "overrun"}).team_quota(cpu_hours=1000).snapshot()
    decision = decide(snap, used("project:proj", 95, **{"team:team": Amounts(900)}), **JOB)
    assert decision.allow and decision.warning_codes == ["quota.exhausted_rerouted"]
    assert "qos overrun" in decision.warnings[0].message and decision.route is not None
    assert decision.route.reason == "on_exhausted of project:proj"
    assert "project:proj" not in decision.remaining and "team:team" in decision.remaining  # others still bind
    full_team = used("project:proj", 95, **{"team:team": Amounts(995)})
    assert not decide(snap, full_team, **JOB).allow  # the team's budget refuses it in overrun too
    too_long = decide(snap, used("project:proj", 95), partition="cpu", cpus=1, walltime_hours=10)
    assert too_long.codes == ["quota.cpu_hours_exceeded"]  # overrun's 2 h cap: it cannot go there either


def test_concurrency_on_an_exclusive_partition_counts_the_gpus_a_job_holds() -> None:
    b = PolicyBuilder().guards(gpu=None).partition("dgx", nodes={"count": 2, "cpus": 64, "memory_gb": 512,
                                                                 "gpus": 8, "gpu_type": "a100"})  # fmt: skip
    snap = b.set("clusters.hpc.partitions.dgx.exclusive", True).project_quota(max_gpus=10).snapshot()
    assert decide(snap, partition="dgx", gpus=1).remaining["project:proj"]["gpus"] == 2  # a whole node: 8
    busy = UsageSnapshot(active={"project:proj": Active(jobs=1, gpus=8)})
    assert decide(snap, busy, partition="dgx", gpus=1).codes == ["concurrency.max_gpus"]
