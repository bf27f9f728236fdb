"""Roles held in a project (v2): they count for that project's jobs, and only for its members."""

from __future__ import annotations

from typing import Any

import pytest

from hpcpolicy.engine import Code, PolicySnapshot, Request, effective_roles
from tests.builders import PolicyBuilder, codes, decide, gpu_nodes

DGX: dict[str, Any] = {"roles": ["dgx_access"]}


def _two_projects() -> PolicyBuilder:
    """Projects proj and lab; u is a member of both; an expensive-job guard at 100 credits needs pi."""
    return (
        PolicyBuilder()
        .set("apiVersion", "hpcpolicy/v2")
        .project("lab")
        .user(projects=["proj", "lab"], default_project="proj")
        .guards(expensive_job={"cost_threshold": 100, "role": "pi"})
        .partition("dgx", nodes=gpu_nodes(), access=DGX, rates={"cpu_hour": 0.01, "gpu_hour": {"a100": 1.0}})
    )


EXPENSIVE = {"cpus": 10, "walltime_hours": 20}  # 200 credits on cpu


@pytest.mark.parametrize(
    "grant",
    [
        lambda b: b.set("orgs.org.teams.team.projects.lab.roles", {"pi": ["u"]}),
        lambda b: b.user(project_roles={"lab": ["pi"]}),
    ],
    ids=["projects.roles", "users.project_roles"],
)
def test_a_pi_of_one_project_approves_nothing_in_another(grant: Any) -> None:
    snap = grant(_two_projects()).snapshot()
    assert decide(snap, project="lab", **EXPENSIVE).allow
    other = decide(snap, project="proj", **EXPENSIVE)
    assert codes(other) == {Code.COST_ROLE_REQUIRED}
    assert codes(decide(snap, **EXPENSIVE)) == {Code.COST_ROLE_REQUIRED}  # the default project is proj


def test_member_roles_open_a_partition_for_that_projects_jobs_only() -> None:
    snap = _two_projects().set("orgs.org.teams.team.projects.lab.member_roles", ["dgx_access", "gpu_user"]).snapshot()
    assert decide(snap, project="lab", partition="dgx", gpus=1).allow
    assert codes(decide(snap, project="proj", partition="dgx", gpus=1)) == {
        Code.PARTITION_ROLE_REQUIRED,
        Code.GPU_ROLE_REQUIRED,
    }


def test_routing_sees_project_roles() -> None:
    snap = _two_projects().set("orgs.org.teams.team.projects.lab.member_roles", ["dgx_access", "gpu_user"]).snapshot()
    assert decide(snap, project="lab", gpus=1).route.partition == "dgx"  # type: ignore[union-attr]
    refused = decide(snap, project="proj", gpus=1)  # the only GPU partition needs a role proj's jobs lack
    dgx = next(r for r in refused.rejected_routes if r.partition == "dgx")
    assert refused.route is None and [v.code for v in dgx.violations] == [Code.PARTITION_ROLE_REQUIRED]


def test_project_roles_need_membership() -> None:
    """Named in projects.lab.roles but not a member: the request is refused as not_member, and the role is
    not lent to it either (the guard fails too, so the reasons are complete)."""
    snap = _two_projects().user("v", projects=["proj"]).set("orgs.org.teams.team.projects.lab.roles", {"pi": ["v"]})
    decision = decide(snap.snapshot(), user_id="v", project="lab", **EXPENSIVE)
    assert codes(decision) == {Code.PROJECT_NOT_MEMBER, Code.COST_ROLE_REQUIRED}


def test_a_group_member_holds_the_project_roles_of_a_project_its_group_grants() -> None:
    snap = (
        _two_projects()
        .set("groups", {"lab-members": {"projects": ["lab"]}})
        .set("orgs.org.teams.team.projects.lab.member_roles", ["dgx_access", "gpu_user"])
        .snapshot()
    )
    job = {"project": "lab", "partition": "dgx", "gpus": 1}
    assert decide(snap, user_id="newcomer", groups=("lab-members",), **job).allow
    assert codes(decide(snap, user_id="newcomer", **job)) == {
        Code.PROJECT_NOT_MEMBER,
        Code.PARTITION_ROLE_REQUIRED,
        Code.GPU_ROLE_REQUIRED,
    }


def _roles(snap: PolicySnapshot, project: str | None, **request: Any) -> frozenset[str]:
    return effective_roles(Request(user_id=request.pop("user_id", "u"), **request), snap, project)


def test_effective_roles_are_the_union_of_every_source() -> None:
    snap = (
        _two_projects()
        .group("g", ["gpu_user"])
        .group("h", ["viewer"])
        .user(roles=["staff"], groups=["g"], project_roles={"lab": ["pi"]})
        .set("orgs.org.teams.team.projects.lab.member_roles", ["dgx_access"])
        .set("orgs.org.teams.team.projects.lab.roles", {"reviewer": ["u", "someone-else"]})
        .snapshot()
    )
    own = {"staff", "gpu_user"}
    assert _roles(snap, "proj") == own
    assert _roles(snap, "lab") == own | {"pi", "dgx_access", "reviewer"}
    assert _roles(snap, "lab", roles=("asserted",), groups=("h", "unknown")) == own | {
        "pi",
        "dgx_access",
        "reviewer",
        "asserted",
        "viewer",
    }
    assert _roles(snap, None) == own
    assert _roles(snap, "lab", user_id="someone-else") == frozenset()  # not a member of lab
