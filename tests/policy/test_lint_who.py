"""``policy check`` on who may do what (v2): access alternatives, roles held in projects, group
memberships. Each error names the file, the line and the path, and says what to write instead."""

from __future__ import annotations

from typing import Any

import pytest

from hpcpolicy.policy import PolicyError, parse_policy
from hpcpolicy.policy.errors import dotted
from tests.builders import PolicyBuilder

LAB = "orgs.org.teams.team.projects.lab"


def _v2() -> PolicyBuilder:
    return PolicyBuilder().set("apiVersion", "hpcpolicy/v2").project("lab")


def _issues(builder: PolicyBuilder) -> dict[str, str]:
    return {dotted(i.path): i.message for i in builder.lint_issues()}


ERRORS: dict[str, tuple[Any, str, str]] = {
    "deny list inside an alternative": (
        lambda b: b.access(any_of=[{"roles": ["a"]}, {"roles": ["b"], "deny_roles": ["student"]}]),
        "clusters.hpc.partitions.cpu.access.any_of[1].deny_roles",
        "deny lists belong at the top of an access block",
    ),
    "deny list nested two levels down": (
        lambda b: b.access(all_of=[{"any_of": [{"deny_projects": ["lab"]}]}]),
        "clusters.hpc.partitions.cpu.access.all_of[0].any_of[0].deny_projects",
        "move deny_projects up",
    ),
    "unknown project in an alternative": (
        lambda b: b.access(any_of=[{"roles": ["a"]}, {"projects": ["ghost"]}]),
        "clusters.hpc.partitions.cpu.access.any_of[1].projects[0]",
        "unknown project 'ghost'",
    ),
    "unknown project granted by a group": (
        lambda b: b.set("groups", {"g": {"projects": ["lab", "ghost"]}}),
        "groups.g.projects[1]",
        "unknown project 'ghost'",
    ),
    "group default outside its projects": (
        lambda b: b.set("groups", {"g": {"projects": ["lab"], "default_project": "proj"}}),
        "groups.g.default_project",
        "add it to groups.g.projects",
    ),
    "user default neither own nor a group's": (
        lambda b: b.set("groups", {"g": {"projects": ["lab"]}}).user(default_project="lab"),
        "users.u.default_project",
        "not in this user's projects",
    ),
    "project role for an unknown user": (
        lambda b: b.set(f"{LAB}.roles", {"pi": ["dan"]}),
        f"{LAB}.roles.pi[0]",
        "unknown user 'dan' (no group grants lab either)",
    ),
    "project role for a listed non-member": (
        lambda b: b.set(f"{LAB}.roles", {"pi": ["u"]}),
        f"{LAB}.roles.pi[0]",
        "add lab to users.u.projects",
    ),
    "project roles on an unknown project": (
        lambda b: b.user(project_roles={"ghost": ["pi"]}),
        "users.u.project_roles.ghost",
        "unknown project 'ghost'",
    ),
    "project roles on a project the user is not in": (
        lambda b: b.user(project_roles={"lab": ["pi"]}),
        "users.u.project_roles.lab",
        "u is not a member of lab, so these roles never apply",
    ),
}


@pytest.mark.parametrize("case", ERRORS.values(), ids=ERRORS.keys())
def test_errors_name_the_path_and_the_fix(case: tuple[Any, str, str]) -> None:
    edit, path, words = case
    builder = edit(_v2())
    found = _issues(builder)
    assert path in found, found
    assert words in found[path]
    with pytest.raises(PolicyError) as caught:  # and the file is refused, with the line
        parse_policy(builder.yaml(), source="p.yaml")
    (issue,) = [i for i in caught.value.issues if dotted(i.path) == path]
    assert issue.line is not None and str(issue).startswith(f"p.yaml:{issue.line} {path}: ")


CLEAN: dict[str, Any] = {
    "alternatives without denies": lambda b: b.access(
        deny_roles=["student"], any_of=[{"roles": ["a"]}, {"projects": ["lab"]}]
    ).user(roles=["a"]),
    "user default from a group": lambda b: b.set("groups", {"g": {"projects": ["lab"]}}).user(
        groups=["g"], default_project="lab"
    ),
    "project role for an unlisted user of a group's project": lambda b: b.set(
        "groups", {"g": {"projects": ["lab"]}}
    ).set(f"{LAB}.roles", {"pi": ["dan"]}),
    "project roles of a member": lambda b: b.user(projects=["proj", "lab"], project_roles={"lab": ["pi"]}).set(
        f"{LAB}.member_roles", ["dgx_access"]
    ),
}


@pytest.mark.parametrize("edit", CLEAN.values(), ids=CLEAN.keys())
def test_what_is_right_passes(edit: Any) -> None:
    builder = edit(_v2())
    assert builder.lint_issues() == []
    parse_policy(builder.yaml())


@pytest.mark.parametrize(
    ("dotted_key", "value"),
    [
        ("clusters.hpc.partitions.cpu.access.any_of", [{"roles": ["a"]}]),
        (f"{LAB}.member_roles", ["dgx_access"]),
        (f"{LAB}.roles", {"pi": ["u"]}),
        ("users.u.project_roles", {"proj": ["pi"]}),
        ("groups", {"g": {"projects": ["lab"]}}),
    ],
)
def test_v2_constructs_are_refused_in_a_v1_file(dotted_key: str, value: Any) -> None:
    builder = PolicyBuilder().project("lab").set(dotted_key, value).set("apiVersion", "hpcpolicy/v1")
    with pytest.raises(PolicyError, match=r"is part of hpcpolicy/v2: write `apiVersion: hpcpolicy/v2`"):
        parse_policy(builder.yaml())


def test_an_empty_list_of_alternatives_is_refused() -> None:
    with pytest.raises(PolicyError, match=r"access\.any_of: List should have at least 1 item"):
        parse_policy(_v2().access(any_of=[]).yaml())
