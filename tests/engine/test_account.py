"""Which project a request charges, the account path, and the roles a user holds."""

from __future__ import annotations

import pytest

from hpcpolicy.engine import Code, PolicySnapshot, Request, effective_roles
from tests.builders import PolicyBuilder, codes, decide


def _two_projects(default: str | None = None) -> PolicySnapshot:
    builder = PolicyBuilder().project("other", team="team2").user(projects=["proj", "other"])
    if default is not None:
        builder.user(default_project=default)
    return builder.snapshot()


@pytest.mark.parametrize(
    ("user_id", "project", "expected_code"),
    [
        ("u", "nope", Code.PROJECT_UNKNOWN),
        ("u", "other", Code.PROJECT_NOT_MEMBER),  # exists, but u is not a member
        ("stranger", "proj", Code.PROJECT_NOT_MEMBER),  # an unlisted user is a member of nothing
    ],
)
def test_named_project_must_exist_and_list_the_user(user_id: str, project: str, expected_code: Code) -> None:
    snap = PolicyBuilder().project("other", team="team2").snapshot()
    decision = decide(snap, user_id=user_id, project=project)
    assert decision.codes == [expected_code]
    assert not decision.allow


def test_unknown_project_charges_only_the_user() -> None:
    decision = decide(PolicyBuilder().snapshot(), project="nope")
    assert decision.project is None
    assert decision.account_path == ("user:u",)


def test_not_member_still_reports_the_project_path() -> None:
    decision = decide(PolicyBuilder().project("other", team="team2").snapshot(), project="other")
    assert decision.account_path == ("user:u", "project:other", "team:team2", "org:org")


def test_several_projects_without_default_require_a_name() -> None:
    decision = decide(_two_projects())
    assert decision.codes == [Code.PROJECT_REQUIRED]
    assert decision.project is None
    assert decision.account_path == ("user:u",)


@pytest.mark.parametrize(
    ("default", "named", "expected"),
    [
        ("other", None, "other"),  # the default project is used when none is named
        ("other", "proj", "proj"),  # a named project wins over the default
        (None, "other", "other"),
    ],
)
def test_default_project_resolution(default: str | None, named: str | None, expected: str) -> None:
    decision = decide(_two_projects(default), project=named)
    assert decision.allow, decision.codes
    assert decision.project == expected
    assert decision.account_path[1] == f"project:{expected}"


def test_a_single_project_is_used_without_a_default() -> None:
    decision = decide(PolicyBuilder().snapshot())
    assert decision.project == "proj"
    assert decision.account_path == ("user:u", "project:proj", "team:team", "org:org")


def test_unlisted_user_without_project_is_allowed_on_the_default_quota() -> None:
    decision = decide(PolicyBuilder().snapshot(), user_id="newcomer")
    assert decision.allow
    assert decision.project is None
    assert decision.account_path == ("user:newcomer",)
    assert list(decision.remaining) == ["user:newcomer"]


def test_listed_user_with_no_projects_charges_nothing_but_themselves() -> None:
    decision = decide(PolicyBuilder().user("v", projects=[]).snapshot(), user_id="v")
    assert decision.allow
    assert decision.account_path == ("user:v",)


# -- roles -------------------------------------------------------------------------------------------


def test_roles_come_from_the_user_their_groups_and_the_request() -> None:
    snap = (
        PolicyBuilder()
        .group("g1", ["gpu_user"])
        .group("g2", ["dgx", "gpu_user"])
        .user(roles=["pi"], groups=["g1", "g2"])
        .snapshot()
    )
    assert effective_roles(Request(user_id="u"), snap, "proj") == {"pi", "gpu_user", "dgx"}
    assert effective_roles(Request(user_id="u", roles=("extra",)), snap, "proj") == {"pi", "gpu_user", "dgx", "extra"}
    assert effective_roles(Request(user_id="stranger", roles=("x",)), snap, None) == {"x"}
    assert effective_roles(Request(user_id="stranger"), snap, None) == frozenset()


@pytest.mark.parametrize(
    ("user_fields", "request_roles", "allowed"),
    [
        ({}, (), False),
        ({"roles": ["gpu_user"]}, (), True),
        ({"groups": ["gpus"]}, (), True),
        ({}, ("gpu_user",), True),
    ],
)
def test_policy_granted_roles_satisfy_the_gpu_guard(
    user_fields: dict[str, list[str]], request_roles: tuple[str, ...], allowed: bool
) -> None:
    snap = (
        PolicyBuilder()
        .partition("gpu", nodes={"count": 1, "cpus": 8, "memory_gb": 64, "gpus": 2, "gpu_type": "a100"})
        .group("gpus", ["gpu_user"])
        .user(**user_fields)
        .snapshot()
    )
    decision = decide(snap, gpus=1, roles=request_roles)
    assert decision.allow is allowed
    assert codes(decision) == (set() if allowed else {Code.GPU_ROLE_REQUIRED})


def test_group_roles_grant_partition_access(example_snap: PolicySnapshot) -> None:
    # carol gets dgx_access (and gpu_user) only through the dgx-users group
    decision = decide(example_snap, user_id="carol", partition="dgx-a100", gpus=1)
    assert decision.allow, decision.codes
    bob = decide(example_snap, user_id="bob", partition="dgx-a100", gpus=1)  # hpc-gpu grants gpu_user only
    assert codes(bob) == {Code.PARTITION_ROLE_REQUIRED}
