"""Membership from groups (v2): a group grants projects (and a default), through the policy's
``users.<u>.groups`` or the request's ``groups``; its roles come from either as well."""

from __future__ import annotations

from typing import Any

import pytest

from hpcpolicy.engine import Code, Request
from hpcpolicy.engine.members import compile_members
from tests.builders import PolicyBuilder, codes, decide


def _lab(**groups: dict[str, Any]) -> PolicyBuilder:
    """Projects proj, wgs, rna (team genomics); groups as given (default: genomics-lab → wgs, rna)."""
    builder = (
        PolicyBuilder()
        .set("apiVersion", "hpcpolicy/v2")
        .project("wgs", team="genomics")
        .project("rna", team="genomics")
        .project_quota("wgs", team="genomics", cpu_hours=1000)
    )
    return builder.set("groups", groups or {"genomics-lab": {"projects": ["wgs", "rna"], "default_project": "wgs"}})


def test_an_unlisted_user_in_a_group_charges_its_default_project() -> None:
    decision = decide(_lab().snapshot(), user_id="newcomer", groups=("genomics-lab",))
    assert decision.allow, decision.codes
    assert decision.project == "wgs"
    assert decision.account_path == ("user:newcomer", "project:wgs", "team:genomics", "org:org")
    assert set(decision.remaining) == {"user:newcomer", "project:wgs"}  # the default user quota, then wgs's


def test_without_the_group_the_same_user_charges_nothing() -> None:
    decision = decide(_lab().snapshot(), user_id="newcomer")
    assert decision.allow and decision.project is None and decision.account_path == ("user:newcomer",)


@pytest.mark.parametrize(
    ("user_fields", "request_groups"),
    [({"groups": ["genomics-lab"]}, ()), ({}, ("genomics-lab",))],
    ids=["policy groups", "request groups"],
)
def test_a_group_member_may_name_any_of_its_projects(user_fields: dict[str, Any], request_groups: tuple) -> None:
    snap = _lab().user(**user_fields).snapshot()
    assert decide(snap, project="rna", groups=request_groups).project == "rna"
    assert decide(snap, project="rna", groups=request_groups).allow
    assert decide(snap, project="proj", groups=request_groups).allow  # u's own project still
    denied = decide(_lab().snapshot(), user_id="stranger", project="rna", groups=("other",))
    assert denied.codes == [Code.PROJECT_NOT_MEMBER]


def test_the_users_own_default_wins() -> None:
    snap = _lab().user(default_project="proj").snapshot()
    assert decide(snap, groups=("genomics-lab",)).project == "proj"


def test_the_first_group_in_policy_order_names_the_default() -> None:
    snap = (
        _lab(
            first={"projects": ["rna"], "default_project": "rna"},
            plain={"projects": ["proj"]},
            second={"projects": ["wgs"], "default_project": "wgs"},
        )
        .user(projects=[])
        .snapshot()
    )
    assert decide(snap, groups=("second", "first")).project == "rna"  # policy order, not the request's
    assert decide(snap, groups=("second", "plain")).project == "wgs"
    listed = _lab(
        first={"projects": ["rna"], "default_project": "rna"}, second={"projects": ["wgs"], "default_project": "wgs"}
    )
    snap = listed.user(projects=[], groups=["second"]).snapshot()
    assert decide(snap, groups=("first",)).project == "rna"  # a request group before a policy group
    assert decide(snap).project == "wgs"


def test_several_projects_and_no_default_must_be_named() -> None:
    snap = _lab(lab={"projects": ["wgs", "rna"]}).snapshot()
    decision = decide(snap, groups=("lab",))
    assert decision.codes == [Code.PROJECT_REQUIRED]
    assert decision.violations[0].limit == "proj, wgs, rna"  # own projects first, then the groups'
    assert decide(snap, user_id="newcomer", groups=("lab",)).codes == [Code.PROJECT_REQUIRED]


def test_a_group_with_one_project_makes_it_the_only_one() -> None:
    snap = _lab(lab={"projects": ["wgs"]}).snapshot()
    assert decide(snap, user_id="newcomer", groups=("lab",)).project == "wgs"
    assert decide(snap, groups=("lab",)).codes == [Code.PROJECT_REQUIRED]  # u has proj as well


def test_request_groups_grant_the_groups_roles() -> None:
    snap = _lab(gpus={"roles": ["gpu_user"]}).partition(
        "gpu", nodes={"count": 1, "cpus": 8, "memory_gb": 64, "gpus": 2, "gpu_type": "a100"}
    )
    built = snap.snapshot()
    assert codes(decide(built, gpus=1)) == {Code.GPU_ROLE_REQUIRED}
    assert decide(built, gpus=1, groups=("gpus",)).allow
    assert codes(decide(built, gpus=1, groups=("not-in-policy",))) == {Code.GPU_ROLE_REQUIRED}


def test_named_keeps_the_groups_the_policy_names() -> None:
    members = compile_members(_lab(a={}, b={"roles": ["x"]}).build())
    assert members.named(["b", "unix-only", "a", "b"]) == ("b", "a")


def test_v1_requests_without_groups_are_decided_as_before() -> None:
    snap = PolicyBuilder().project("other").user(projects=["proj", "other"]).snapshot()
    assert decide(snap).codes == [Code.PROJECT_REQUIRED]
    assert Request(user_id="u").groups == ()
