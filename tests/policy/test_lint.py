"""Cross-reference checks: errors stop a policy from loading, warnings ride along with it."""

from __future__ import annotations

import pytest

from hpcpolicy.policy import PolicyError, PolicyIssue, parse_policy
from hpcpolicy.policy.errors import dotted
from tests.builders import PolicyBuilder, gpu_nodes


def _gpu_builder() -> PolicyBuilder:
    gpus = PolicyBuilder().partition("gpu", nodes=gpu_nodes(), rates={"gpu_hour": {"a100": 2}})
    return gpus.user(roles=["gpu_user"])  # the GPU guard's role: held by someone, so no warning


def _found(builder: PolicyBuilder) -> dict[str, tuple[str, str]]:
    """Lint issues by dotted path → (severity, message)."""
    return {dotted(i.path): (i.severity, i.message) for i in builder.lint_issues()}


def _errors_on_load(builder: PolicyBuilder) -> list[PolicyIssue]:
    text = builder.yaml()
    with pytest.raises(PolicyError) as caught:
        parse_policy(text, source="lint.yaml")
    return [i for i in caught.value.issues if i.severity == "error"]


def test_the_base_builder_policy_is_clean() -> None:
    assert PolicyBuilder().lint_issues() == []
    assert _gpu_builder().lint_issues() == []


ERROR_CASES = {
    "unknown project of a user": (
        PolicyBuilder().user(projects=["proj", "ghost"]),
        "users.u.projects[1]",
        "unknown project",
    ),
    "default project not among the user's": (
        PolicyBuilder().project("other").user(default_project="other"),
        "users.u.default_project",
        "not in this user's projects",
    ),
    "unknown group": (PolicyBuilder().user(groups=["nobody"]), "users.u.groups[0]", "unknown group"),
    "project name reused in another team": (
        PolicyBuilder().project("proj", team="team2"),
        "orgs.org.teams.team2.projects.proj",
        "already used at orgs.org.teams.team.projects.proj",
    ),
    "team name reused in another org": (
        PolicyBuilder().project("elsewhere", team="team", org="org2"),
        "orgs.org2.teams.team",
        "already used",
    ),
    "unnamed quotas on one scope": (
        PolicyBuilder().project_quota(cpu_hours=1).project_quota(name="b", cpu_hours=2),
        "orgs.org.teams.team.projects.proj.quotas[0].name",
        "is required",
    ),
    "duplicate quota names": (
        PolicyBuilder().user_quota(name="a", cpu_hours=1).user_quota(name="a", gpu_hours=2),
        "users.u.quotas[1].name",
        "duplicate quota name",
    ),
    "default walltime above the maximum": (
        PolicyBuilder().limits(max_walltime_hours=4, default_walltime_hours=8),
        "clusters.hpc.partitions.cpu.limits.default_walltime_hours",
        "≤ max_walltime_hours",
    ),
    "unknown project in an access list": (
        PolicyBuilder().access(deny_projects=["ghost"]),
        "clusters.hpc.partitions.cpu.access.deny_projects[0]",
        "unknown project",
    ),
    "GPUs without a type": (
        PolicyBuilder().partition("gpu", nodes={"count": 1, "cpus": 4, "memory_gb": 8, "gpus": 2}),
        "clusters.hpc.partitions.gpu.nodes.gpu_type",
        "must name",
    ),
    "allowed GPU types exclude the nodes' own": (
        _gpu_builder().limits("gpu", gpu_types=["h100"]),
        "clusters.hpc.partitions.gpu.limits.gpu_types",
        "excludes",
    ),
}


@pytest.mark.parametrize(("builder", "path", "words"), list(ERROR_CASES.values()), ids=list(ERROR_CASES))
def test_lint_errors(builder: PolicyBuilder, path: str, words: str) -> None:
    severity, message = _found(builder)[path]
    assert severity == "error"
    assert words in message
    [issue] = [i for i in _errors_on_load(builder) if dotted(i.path) == path]
    assert issue.line is not None and issue.source == "lint.yaml"


def test_every_unnamed_quota_of_a_crowded_scope_is_reported() -> None:
    builder = PolicyBuilder().team_quota(cpu_hours=1).team_quota(gpu_hours=1).team_quota(name="c", cost=1)
    paths = [p for p, (severity, _) in _found(builder).items() if severity == "error"]
    assert paths == ["orgs.org.teams.team.quotas[0].name", "orgs.org.teams.team.quotas[1].name"]


def test_lint_error_lines_point_into_the_file() -> None:
    text = PolicyBuilder().user(projects=["proj", "ghost"]).yaml()
    with pytest.raises(PolicyError) as caught:
        parse_policy(text, source="lint.yaml")
    [issue] = caught.value.issues
    assert issue.line == next(i + 1 for i, line in enumerate(text.splitlines()) if line.strip() == "- ghost")


@pytest.mark.parametrize("cap", ["max_cpus", "max_gpus", "max_memory_gb", "max_nodes"])
def test_cap_above_hardware_is_a_warning(cap: str) -> None:
    builder = _gpu_builder().limits("gpu", **{cap: 10_000})
    severity, message = _found(builder)[f"clusters.hpc.partitions.gpu.limits.{cap}"]
    assert severity == "warning"
    assert "exceeds the partition's hardware" in message


@pytest.mark.parametrize(
    ("gpu_hour", "warned"),
    [({}, True), ({"h100": 5}, True), ({"a100": 5}, False), ({"default": 5}, False)],
)
def test_gpu_partition_without_a_gpu_rate_is_a_warning(gpu_hour: dict[str, float], warned: bool) -> None:
    builder = PolicyBuilder().partition("gpu", nodes=gpu_nodes(), rates={"gpu_hour": gpu_hour})
    found = _found(builder)
    assert ("clusters.hpc.partitions.gpu.rates.gpu_hour" in found) is warned
    if warned:
        assert found["clusters.hpc.partitions.gpu.rates.gpu_hour"][0] == "warning"


def test_warnings_do_not_prevent_loading() -> None:
    builder = PolicyBuilder().limits(max_cpus=10_000).partition("gpu", nodes=gpu_nodes(), rates={})
    builder.user(roles=["gpu_user"])
    loaded = parse_policy(builder.yaml(), source="warn.yaml")
    assert {(dotted(w.path), w.severity) for w in loaded.warnings} == {
        ("clusters.hpc.partitions.cpu.limits.max_cpus", "warning"),
        ("clusters.hpc.partitions.gpu.rates.gpu_hour", "warning"),
    }
    assert all(w.line is not None for w in loaded.warnings)
    assert all("warning: " in str(w) for w in loaded.warnings)


def test_errors_and_warnings_come_back_together() -> None:
    builder = PolicyBuilder().limits(max_cpus=10_000).user(projects=["ghost"])
    with pytest.raises(PolicyError) as caught:
        parse_policy(builder.yaml())
    assert sorted(i.severity for i in caught.value.issues) == ["error", "warning"]
    assert str(caught.value).startswith("1 error(s) in policy")
