"""Cross-reference checks that a schema cannot express, each returned with the path it concerns.

The schema has already checked types and ranges; here we check that names point at things that exist,
that names which requests use alone (projects, teams) are unique across the tree, and that caps agree
with the hardware. Problems that make a policy wrong are errors; ones that are merely suspicious (a GPU
partition with no GPU rate, so GPU-hours cost nothing; rules that can never match, in
:mod:`hpcpolicy.policy.unreachable`) are warnings.
"""

from __future__ import annotations

from collections.abc import Iterator

from hpcpolicy.policy.errors import Path, PolicyIssue
from hpcpolicy.policy.lint_alerts import lint_alerts
from hpcpolicy.policy.lint_budgets import lint_budgets, member_quota_lists
from hpcpolicy.policy.lint_partitions import partition_issues
from hpcpolicy.policy.lint_who import lint_who
from hpcpolicy.policy.schema import Partition, Policy, Quota
from hpcpolicy.policy.unreachable import unreachable


def lint(policy: Policy) -> list[PolicyIssue]:
    return [
        *_tree(policy),
        *_users(policy),
        *_partitions(policy),
        *_quota_lists(policy),
        *lint_budgets(policy),
        *partition_issues(policy, project_names(policy)),
        *unreachable(policy),
        *lint_who(policy),
        *lint_alerts(policy),
    ]


def project_names(policy: Policy) -> set[str]:
    return {p for org in policy.orgs.values() for team in org.teams.values() for p in team.projects}


def _tree(policy: Policy) -> Iterator[PolicyIssue]:
    seen_teams: dict[str, Path] = {}
    seen_projects: dict[str, Path] = {}
    for org_name, org in policy.orgs.items():
        for team_name, team in org.teams.items():
            path: Path = ("orgs", org_name, "teams", team_name)
            if team_name in seen_teams:
                yield PolicyIssue(path, f"team name already used at {_show(seen_teams[team_name])}")
            seen_teams.setdefault(team_name, path)
            for project_name in team.projects:
                ppath: Path = (*path, "projects", project_name)
                if project_name in seen_projects:
                    yield PolicyIssue(ppath, f"project name already used at {_show(seen_projects[project_name])}")
                seen_projects.setdefault(project_name, ppath)


def _users(policy: Policy) -> Iterator[PolicyIssue]:
    projects = project_names(policy)
    for name, user in policy.users.items():
        base: Path = ("users", name)
        for i, project in enumerate(user.projects):
            if project not in projects:
                yield PolicyIssue((*base, "projects", i), f"unknown project {project!r}")
        for i, group in enumerate(user.groups):
            if group not in policy.groups:
                yield PolicyIssue((*base, "groups", i), f"unknown group {group!r}")


def _partitions(policy: Policy) -> Iterator[PolicyIssue]:
    for cluster_name, cluster in policy.clusters.items():
        for part_name, part in cluster.partitions.items():
            yield from _partition((("clusters", cluster_name, "partitions", part_name)), part)


def _partition(base: Path, part: Partition) -> Iterator[PolicyIssue]:
    limits, nodes = part.limits, part.nodes
    if (
        limits.default_walltime_hours is not None
        and limits.max_walltime_hours is not None
        and limits.default_walltime_hours > limits.max_walltime_hours
    ):
        yield PolicyIssue((*base, "limits", "default_walltime_hours"), "must be ≤ max_walltime_hours")
    hardware = {
        "max_cpus": nodes.count * nodes.cpus,
        "max_gpus": nodes.count * nodes.gpus,
        "max_memory_gb": nodes.count * nodes.memory_gb,
        "max_nodes": nodes.count,
    }
    for field, physical in hardware.items():
        cap = getattr(limits, field)
        if cap is not None and cap > physical:
            yield PolicyIssue(
                (*base, "limits", field),
                f"{cap:g} exceeds the partition's hardware ({physical:g})",
                "warning",
            )
    if nodes.gpus and nodes.gpu_type is None:
        yield PolicyIssue((*base, "nodes", "gpu_type"), "a partition with GPUs must name their gpu_type")
    if limits.gpu_types is not None and nodes.gpu_type is not None and nodes.gpu_type not in limits.gpu_types:
        yield PolicyIssue((*base, "limits", "gpu_types"), f"excludes the nodes' own GPU type {nodes.gpu_type!r}")
    if nodes.gpus and nodes.gpu_type not in part.rates.gpu_hour and "default" not in part.rates.gpu_hour:
        yield PolicyIssue((*base, "rates", "gpu_hour"), f"no rate for {nodes.gpu_type!r}: GPU-hours cost 0", "warning")


def _quota_lists(policy: Policy) -> Iterator[PolicyIssue]:
    """Names are required in a list of several quotas, and unique in it (each list's path ends in its key)."""
    lists: list[tuple[Path, list[Quota]]] = [(("defaults", "quotas"), [policy.defaults.user_quota])]
    for org_name, org in policy.orgs.items():
        lists.append((("orgs", org_name, "quotas"), org.quotas))
        for team_name, team in org.teams.items():
            lists.append((("orgs", org_name, "teams", team_name, "quotas"), team.quotas))
            for project_name, project in team.projects.items():
                path: Path = ("orgs", org_name, "teams", team_name, "projects", project_name, "quotas")
                lists.append((path, project.quotas))
    lists += [(("users", name, "quotas"), user.quotas) for name, user in policy.users.items()]
    lists += list(member_quota_lists(policy))
    for base, quotas in lists:
        if len(quotas) > 1:
            names = [q.name for q in quotas]
            for i, quota in enumerate(quotas):
                if quota.name is None:
                    yield PolicyIssue((*base, i, "name"), "is required when a scope has several quotas")
                elif names.index(quota.name) != i:
                    yield PolicyIssue((*base, i, "name"), f"duplicate quota name {quota.name!r}")


def _show(path: Path) -> str:
    return ".".join(str(p) for p in path)
