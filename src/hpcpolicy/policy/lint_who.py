"""Cross-reference checks for who may do what: access blocks.

Called from :func:`hpcpolicy.policy.lint.lint`. Every access block under ``clusters`` is found by walking
the models (a partition's; a QOS's or a schedule's exemption as well), so a new place that holds one is
checked without being listed here.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel

from hpcpolicy.policy.errors import Path, PolicyIssue
from hpcpolicy.policy.schema import Access, Policy


def lint_who(policy: Policy) -> Iterator[PolicyIssue]:
    projects = project_paths(policy)
    for path, access in access_blocks(policy.clusters, ("clusters",)):
        yield from _access(path, access, set(projects), top=True)


def project_paths(policy: Policy) -> dict[str, Path]:
    """Every project of the tree and where it is written (the first place, if written twice)."""
    found: dict[str, Path] = {}
    for org_name, org in policy.orgs.items():
        for team_name, team in org.teams.items():
            for name in team.projects:
                found.setdefault(name, ("orgs", org_name, "teams", team_name, "projects", name))
    return found


def access_blocks(node: Any, path: Path = ()) -> Iterator[tuple[Path, Access]]:
    """``(path, block)`` for every top-level access block under ``node`` (alternatives are inside them)."""
    if isinstance(node, Access):
        yield path, node
    elif isinstance(node, BaseModel):
        for name in type(node).model_fields:
            yield from access_blocks(getattr(node, name), (*path, name))
    elif isinstance(node, dict):
        for key, value in node.items():
            yield from access_blocks(value, (*path, key))
    elif isinstance(node, list | tuple):
        for i, value in enumerate(node):
            yield from access_blocks(value, (*path, i))


def _access(path: Path, access: Access, projects: set[str], top: bool) -> Iterator[PolicyIssue]:
    if not top:
        for key in ("deny_roles", "deny_projects"):
            if getattr(access, key):
                yield PolicyIssue(
                    (*path, key),
                    f"deny lists belong at the top of an access block, not in an alternative: move {key} up "
                    "beside any_of/all_of (a deny matches whatever the alternatives say)",
                )
    for key in ("projects", "deny_projects"):
        for i, project in enumerate(getattr(access, key)):
            if project not in projects:
                yield PolicyIssue((*path, key, i), f"unknown project {project!r}")
    for key in ("any_of", "all_of"):
        for i, alternative in enumerate(getattr(access, key) or ()):
            yield from _access((*path, key, i), alternative, projects, top=False)
