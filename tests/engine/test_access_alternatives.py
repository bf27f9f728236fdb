"""Access blocks with ``any_of`` / ``all_of`` (v2), and the compiled rule reused for anything an access
block guards. v1 lists keep their meaning and codes (tests/engine/test_partition_rules.py)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hpcpolicy.engine import Code
from hpcpolicy.engine.rules.access import access_rule, describe
from hpcpolicy.policy.schema import Access
from tests.builders import PolicyBuilder, codes, decide

HIMEM_OR_DENOVO = {"any_of": [{"roles": ["himem"]}, {"projects": ["denovo"]}]}
GPU_AND_PI_OR_LM = {"all_of": [{"roles": ["gpu_user"]}, {"any_of": [{"roles": ["pi"]}, {"projects": ["lm"]}]}]}


def _builder(access: dict[str, Any]) -> PolicyBuilder:
    """Partition ``big`` guarded by ``access``; user u is in proj, denovo and lm (proj by default)."""
    return (
        PolicyBuilder()
        .set("apiVersion", "hpcpolicy/v2")
        .project("denovo")
        .project("lm")
        .user(projects=["proj", "denovo", "lm"], default_project="proj")
        .partition("big", access=access)
    )


@pytest.mark.parametrize(
    ("access", "request_fields", "allowed"),
    [
        (HIMEM_OR_DENOVO, {"roles": ("himem",)}, True),  # the role alone
        (HIMEM_OR_DENOVO, {"project": "denovo"}, True),  # the project alone: v1 could only say both
        (HIMEM_OR_DENOVO, {}, False),
        (GPU_AND_PI_OR_LM, {"roles": ("gpu_user", "pi")}, True),
        (GPU_AND_PI_OR_LM, {"roles": ("gpu_user",), "project": "lm"}, True),
        (GPU_AND_PI_OR_LM, {"roles": ("gpu_user",)}, False),  # neither pi nor lm
        (GPU_AND_PI_OR_LM, {"roles": ("pi",), "project": "lm"}, False),  # not gpu_user
        ({"any_of": [{"roles": ["a"], "projects": ["lm"]}, {"roles": ["b"]}]}, {"roles": ("a",)}, False),
        (
            {"any_of": [{"roles": ["a"], "projects": ["lm"]}, {"roles": ["b"]}]},
            {"roles": ("a",), "project": "lm"},
            True,
        ),
    ],
)
def test_alternatives(access: dict[str, Any], request_fields: dict[str, Any], allowed: bool) -> None:
    decision = decide(_builder(access).snapshot(), partition="big", **request_fields)
    assert codes(decision) == (set() if allowed else {Code.PARTITION_ACCESS_DENIED})


def test_a_failed_any_of_names_the_alternatives() -> None:
    (violation,) = decide(_builder(HIMEM_OR_DENOVO).snapshot(), partition="big").violations
    assert violation.code == Code.PARTITION_ACCESS_DENIED
    assert violation.message == "partition big requires one of: role himem; project denovo"
    assert (violation.scope, violation.limit) == ("partition:big", "role himem; project denovo")


def test_a_failed_all_of_names_the_alternatives_and_what_is_lacking() -> None:
    (violation,) = decide(_builder(GPU_AND_PI_OR_LM).snapshot(), partition="big", roles=("pi",)).violations
    assert violation.message == (
        "partition big requires all of: role gpu_user; one of (role pi; project lm) (lacking role gpu_user)"
    )


def test_a_top_level_role_clause_keeps_its_own_code_beside_alternatives() -> None:
    snap = _builder({"roles": ["staff"], **HIMEM_OR_DENOVO}).snapshot()
    assert decide(snap, partition="big", project="denovo").codes == [Code.PARTITION_ROLE_REQUIRED]
    assert decide(snap, partition="big").codes == [Code.PARTITION_ROLE_REQUIRED, Code.PARTITION_ACCESS_DENIED]
    assert decide(snap, partition="big", roles=("staff",), project="denovo").allow


@pytest.mark.parametrize(
    ("deny", "request_fields"),
    [({"deny_roles": ["student"]}, {"roles": ("himem", "student")}), ({"deny_projects": ["denovo"]}, {})],
)
def test_a_deny_list_wins_over_a_matching_alternative(deny: dict[str, list[str]], request_fields: dict) -> None:
    decision = decide(
        _builder({**deny, **HIMEM_OR_DENOVO}).snapshot(), partition="big", project="denovo", **request_fields
    )
    assert decision.codes == [Code.PARTITION_ACCESS_DENIED]
    assert "may not use big" in decision.violations[0].message


def test_routing_passes_over_a_partition_whose_alternatives_fail() -> None:
    snap = _builder(HIMEM_OR_DENOVO).rates("big", cpu_hour=0.1).snapshot()  # big is cheaper than cpu
    assert decide(snap, project="denovo").route.partition == "big"  # type: ignore[union-attr]
    routed = decide(snap)
    assert routed.route is not None and routed.route.partition == "cpu"


# -- the compiled rule, for whatever an access block guards ------------------------------------------


def test_the_rule_speaks_for_what_it_guards() -> None:
    rule = access_rule(
        Access(roles=["long_jobs"], any_of=[Access(projects=["lm"])]),
        "QOS long",
        "long",
        denied=Code.ROUTE_NO_FIT,
        role_required=Code.ROUTE_NO_FIT,  # any code: the caller chooses
    )
    found = rule.check(frozenset(), "proj", "qos:long")
    assert [(v.code, v.message, v.scope) for v in found] == [
        (Code.ROUTE_NO_FIT, "QOS long requires role long_jobs", "qos:long"),
        (Code.ROUTE_NO_FIT, "QOS long requires one of: project lm", "qos:long"),
    ]
    assert rule.check(frozenset({"long_jobs"}), "lm", "qos:long") == []


def test_an_empty_block_is_open_to_everyone() -> None:
    rule = access_rule(Access(), "partition cpu", "cpu")
    assert rule.open and rule.allows(frozenset(), None) and rule.check(frozenset(), None, "x") == []


def test_descriptions_nest() -> None:
    block = Access.model_validate(GPU_AND_PI_OR_LM | {"roles": ["b", "a"]})
    assert describe(block) == "role a or b and all of (role gpu_user; one of (role pi; project lm))"


NAMES = st.sampled_from(["a", "b", "c"])
ROLE_SETS = st.frozensets(NAMES, max_size=3)
PROJECTS = st.sampled_from([None, "a", "b", "c"])


def _blocks(depth: int) -> st.SearchStrategy[dict[str, Any]]:
    lists = {"roles": st.lists(NAMES, max_size=2), "projects": st.lists(NAMES, max_size=2)}
    if depth:
        nested = st.lists(_blocks(depth - 1), min_size=1, max_size=2)
        lists |= {"any_of": nested, "all_of": nested}
    return st.fixed_dictionaries({}, optional=lists)


def _reference(block: dict[str, Any], roles: frozenset[str], project: str | None) -> bool:
    """The meaning written in docs/policy.md, read literally."""
    if block.get("deny_roles") and roles & set(block["deny_roles"]):
        return False
    if project is not None and project in block.get("deny_projects", []):
        return False
    return (
        (not block.get("roles") or bool(roles & set(block["roles"])))
        and (not block.get("projects") or project in block["projects"])
        and (not block.get("any_of") or any(_reference(alt, roles, project) for alt in block["any_of"]))
        and all(_reference(alt, roles, project) for alt in block.get("all_of", []))
    )


@given(_blocks(2), st.lists(NAMES, max_size=1), st.lists(NAMES, max_size=1), ROLE_SETS, PROJECTS)
def test_check_and_allows_agree_with_the_documented_meaning(
    block: dict[str, Any], deny_roles: list[str], deny_projects: list[str], roles: frozenset[str], project: str | None
) -> None:
    top = block | {"deny_roles": deny_roles, "deny_projects": deny_projects}
    rule = access_rule(Access.model_validate(top), "partition p", "p")
    expected = _reference(top, roles, project)
    assert rule.allows(roles, project) is expected
    assert (rule.check(roles, project, "partition:p") == []) is expected
