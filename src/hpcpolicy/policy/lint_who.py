"""Cross-reference checks for who may do what: access blocks, roles held in projects, group memberships.

Called from :func:`hpcpolicy.policy.lint.lint`. Every access block under ``clusters`` is found by walking
the models (a partition's; a QOS's or a schedule's exemption as well), so a new place that holds one is
checked without being listed here.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel

from hpcpolicy.policy.errors import Path, PolicyIssue
from hpcpolicy.policy.schema import Access, Policy, User


def lint_who(policy: Policy) -> Iterator[PolicyIssue]:
    projects = project_paths(policy)
    for path, access in access_blocks(policy.clusters, ("clusters",)):
        yield from _access(path, access, set(projects), top=True)
    yield from _groups(policy, set(projects))
    yield from _users(policy, set(projects))
    yield from _held_in_projects(policy, projects)


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


def member_projects(policy: Policy, user: User) -> set[str]:
    """The projects a listed user may charge whatever a request says: their own and their groups'."""
    return set(user.projects).union(*(policy.groups[g].projects for g in user.groups if g in policy.groups))


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


def _groups(policy: Policy, projects: set[str]) -> Iterator[PolicyIssue]:
    for name, group in policy.groups.items():
        base: Path = ("groups", name)
        for i, project in enumerate(group.projects):
            if project not in projects:
                yield PolicyIssue((*base, "projects", i), f"unknown project {project!r}")
        if group.default_project is not None and group.default_project not in group.projects:
            yield PolicyIssue(
                (*base, "default_project"),
                f"{group.default_project!r} is not in this group's projects: add it to groups.{name}.projects",
            )


def _users(policy: Policy, projects: set[str]) -> Iterator[PolicyIssue]:
    for name, user in policy.users.items():
        base: Path = ("users", name)
        mine = member_projects(policy, user)
        if user.default_project is not None and user.default_project not in mine:
            yield PolicyIssue(
                (*base, "default_project"),
                f"{user.default_project!r} is not in this user's projects (nor their groups'): add it to "
                f"users.{name}.projects",
            )
        for project in user.project_roles:
            if project not in projects:
                yield PolicyIssue((*base, "project_roles", project), f"unknown project {project!r}")
            elif project not in mine and not _granted_by_a_group(policy, project):
                yield PolicyIssue(
                    (*base, "project_roles", project),
                    f"{name} is not a member of {project}, so these roles never apply: add {project} to "
                    f"users.{name}.projects (or to the projects of one of their groups)",
                )


def _held_in_projects(policy: Policy, projects: dict[str, Path]) -> Iterator[PolicyIssue]:
    for project, base in projects.items():
        spec = policy.orgs[str(base[1])].teams[str(base[3])].projects[project]
        if not spec.roles or _granted_by_a_group(policy, project):
            continue  # a member through a group needs no listing: any user name may hold the role
        for role, users in spec.roles.items():
            for i, user_name in enumerate(users):
                user = policy.users.get(user_name)
                where: Path = (*base, "roles", role, i)
                if user is None:
                    yield PolicyIssue(where, f"unknown user {user_name!r} (no group grants {project} either)")
                elif project not in member_projects(policy, user):
                    yield PolicyIssue(
                        where,
                        f"{user_name} is not a member of {project}, so this role never applies: add {project} "
                        f"to users.{user_name}.projects",
                    )


def _granted_by_a_group(policy: Policy, project: str) -> bool:
    """Whether some group grants ``project``: then any user may be a member, through a request's groups."""
    return any(project in group.projects for group in policy.groups.values())
