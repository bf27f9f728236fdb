"""Lint warnings for rules that can never match: each names the path and says what to change."""

from __future__ import annotations

import pytest

from hpcpolicy.policy import parse_policy
from hpcpolicy.policy.errors import dotted
from tests.builders import PolicyBuilder, gpu_nodes

CPU = "clusters.hpc.partitions.cpu"


def warnings(builder: PolicyBuilder) -> dict[str, str]:
    """Warnings by dotted path; a policy with errors fails the test (these are warnings only)."""
    issues = builder.lint_issues()
    assert all(i.severity == "warning" for i in issues), issues
    return {dotted(i.path): i.message for i in issues}


CASES = {
    "a role nobody holds guards a partition": (
        PolicyBuilder().access(roles=["himem"]),
        f"{CPU}.access.roles[0]",
        "no user or group in the policy holds role 'himem'; only tokens asserting it can use hpc/cpu: grant it",
    ),
    "GPU jobs need a role nobody holds": (
        PolicyBuilder().partition("gpu", nodes=gpu_nodes(), rates={"gpu_hour": {"a100": 1}}),
        "guards.gpu.role",
        "holds role 'gpu_user'; only tokens asserting it can run GPU jobs: grant it to a user (users.<name>.roles)",
    ),
    "expensive jobs need a role nobody holds": (
        PolicyBuilder().guards(expensive_job={"cost_threshold": 100, "role": "pi"}),
        "guards.expensive_job.role",
        "only tokens asserting it can run jobs above 100",
    ),
    "every required role is denied": (
        PolicyBuilder().user(roles=["a", "b"]).access(roles=["a", "b"], deny_roles=["b", "a"]),
        f"{CPU}.access.deny_roles",
        "denies every role that access.roles requires: nobody may use hpc/cpu",
    ),
    "every allowed project is denied": (
        PolicyBuilder().access(projects=["proj"], deny_projects=["proj"]),
        f"{CPU}.access.deny_projects",
        "denies every project that access.projects allows: nobody may use hpc/cpu",
    ),
    "a partition reserved for projects nobody may charge": (
        PolicyBuilder().project("lonely").project("empty").access(projects=["lonely", "empty"]),
        f"{CPU}.access.projects",
        "no request can charge projects lonely, empty (no members): nobody may use hpc/cpu; list it in a user's",
    ),
    "a project quota nobody can reach": (
        PolicyBuilder().project_quota("lonely", cpu_hours=10),
        "orgs.org.teams.team.projects.lonely.quotas",
        "no user is a member of project lonely: no request can charge it, so these quotas never count a job",
    ),
    "a team quota nobody can reach": (
        PolicyBuilder().project("lonely", team="t2").team_quota("t2", cpu_hours=10),
        "orgs.org.teams.t2.quotas",
        "no project of team t2 has members: no request reaches these quotas",
    ),
    "an org quota nobody can reach": (
        PolicyBuilder().project("lonely", team="t2", org="o2").org_quota("o2", cost=10),
        "orgs.o2.quotas",
        "no project of org o2 has members",
    ),
    "a project budget below one default job": (
        PolicyBuilder().limits(default_walltime_hours=4).project_quota(cpu_hours=2),
        "orgs.org.teams.team.projects.proj.quotas[0].cpu_hours",
        "2 CPU-hours is less than the smallest default job its jobs can run (1 CPU for the 4 h default walltime "
        "of hpc/cpu): every job that names no shorter walltime is denied; raise it to at least 4",
    ),
    "the default user quota below one default job": (
        PolicyBuilder().defaults(user_quota={"cpu_hours": 0.5}),
        "defaults.user_quota.cpu_hours",
        "0.5 CPU-hours is less than the smallest default job its jobs can run (1 CPU for the 1 h",
    ),
    "a user budget below the default job of the partitions open to the user's project": (
        PolicyBuilder()
        .partition("short", limits={"default_walltime_hours": 0.25}, access={"deny_projects": ["proj"]})
        .user_quota(cpu_hours=0.5),
        "users.u.quotas[0].cpu_hours",
        "(1 CPU for the 1 h default walltime of hpc/cpu)",
    ),
    "a member's budget inside a project": (
        PolicyBuilder().set("apiVersion", "hpcpolicy/v2").limits(default_walltime_hours=2)
        .set("orgs.org.teams.team.projects.proj.member_quotas", [{"cpu_hours": 1}]),
        "orgs.org.teams.team.projects.proj.member_quotas[0].cpu_hours",
        "(1 CPU for the 2 h default walltime of hpc/cpu)",
    ),
    "one member's own budget": (
        PolicyBuilder().set("apiVersion", "hpcpolicy/v2")
        .set("orgs.org.teams.team.projects.proj.members", {"u": {"quotas": [{"cpu_hours": 0}]}}),
        "orgs.org.teams.team.projects.proj.members.u.quotas[0].cpu_hours",
        "0 CPU-hours is less than the smallest default job",
    ),
    "a budget on a slice, held to the slice's partitions": (
        PolicyBuilder().set("apiVersion", "hpcpolicy/v2")
        .partition("long", limits={"default_walltime_hours": 24})
        .project_quota(cpu_hours=12, slice={"partitions": ["long"]}),
        "orgs.org.teams.team.projects.proj.quotas[0].cpu_hours",
        "(1 CPU for the 24 h default walltime of hpc/long)",
    ),
    "a per-user budget on a partition": (
        PolicyBuilder().set("apiVersion", "hpcpolicy/v2").limits(default_walltime_hours=8)
        .set("clusters.hpc.partitions.cpu.per_user", {"cpu_hours": 4}),
        "clusters.hpc.partitions.cpu.per_user.cpu_hours",
        "(1 CPU for the 8 h default walltime of hpc/cpu)",
    ),
}  # fmt: skip


@pytest.mark.parametrize(("builder", "path", "words"), list(CASES.values()), ids=list(CASES))
def test_a_rule_that_can_never_match_is_a_warning_saying_what_to_change(
    builder: PolicyBuilder, path: str, words: str
) -> None:
    found = warnings(builder)
    assert path in found, found
    assert words in found[path]
    loaded = parse_policy(builder.yaml(), source="p.yaml")  # warnings never stop a policy from loading
    [issue] = [w for w in loaded.warnings if dotted(w.path) == path]
    assert issue.severity == "warning" and issue.line is not None


@pytest.mark.parametrize(
    "builder",
    [
        PolicyBuilder().access(roles=["himem"]).user(roles=["himem"]),
        PolicyBuilder().access(roles=["himem"]).group("big", roles=["himem"]),  # groups are asserted by adapters
        PolicyBuilder().access(roles=["himem", "staff"], deny_roles=["staff"]).user(roles=["himem"]),
        PolicyBuilder().partition("gpu", nodes=gpu_nodes(), rates={"gpu_hour": {"a100": 1}}).guards(gpu=None),
        PolicyBuilder().project("lonely").access(projects=["proj", "lonely"], deny_projects=["lonely"]),
        PolicyBuilder().project("empty"),  # a project without members or quotas holds nothing to reach
        PolicyBuilder().limits(default_walltime_hours=4).project_quota(cpu_hours=4),
        PolicyBuilder()  # a shorter default on a partition the project may use: the smallest job is smaller
        .limits(default_walltime_hours=4)
        .partition("short", limits={"default_walltime_hours": 0.5}, access={"projects": ["proj"]})
        .project_quota(cpu_hours=1),
        PolicyBuilder().user_quota(gpu_hours=0),  # only cpu_hours is held to the smallest job
        PolicyBuilder()  # a slice of the short partition: 1 CPU-hour holds its 1 h default job
        .set("apiVersion", "hpcpolicy/v2")
        .partition("long", limits={"default_walltime_hours": 24})
        .project_quota(cpu_hours=1, slice={"partitions": ["cpu"]}),
    ],
)
def test_rules_that_can_match_are_not_warned_about(builder: PolicyBuilder) -> None:
    assert warnings(builder) == {}


def test_a_budget_is_held_to_the_partitions_its_scope_may_use() -> None:
    # the short partition is reserved for another project: proj's smallest job is on cpu (4 h)
    builder = (
        PolicyBuilder()
        .limits(default_walltime_hours=4)
        .project("other")
        .user("v", projects=["other"])
        .partition("short", limits={"default_walltime_hours": 0.5}, access={"projects": ["other"]})
        .project_quota(cpu_hours=2)
        .project_quota("other", cpu_hours=2)
        .team_quota(cpu_hours=0.25)  # the team's jobs include other's: its smallest job is on short
    )
    found = warnings(builder)
    team, proj = "orgs.org.teams.team.quotas[0].cpu_hours", "orgs.org.teams.team.projects.proj.quotas[0].cpu_hours"
    assert set(found) == {team, proj}
    assert "(1 CPU for the 0.5 h default walltime of hpc/short)" in found[team]
    assert "(1 CPU for the 4 h default walltime of hpc/cpu)" in found[proj]
