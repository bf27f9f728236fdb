"""Who a user is under a policy: the projects they may charge and the roles they hold, compiled once.

A user's groups are the policy's ``users.<u>.groups`` plus the request's ``groups`` (asserted like roles:
by a gateway, the Slurm hook from NSS, a token's groups claim). From them:

- **membership**: the user's own ``projects`` ∪ the ``projects`` of their groups (v2). Users need not be
  listed: an unlisted user in a group charges its projects.
- **default project** when a request names none: the user's own ``default_project``, else that of the
  first of their groups, in policy order, that names one, else their only project.
- **roles**: asserted ∪ the user's own ∪ their groups' ∪ those held in the request's project (v2:
  ``projects.<p>.roles``, ``projects.<p>.member_roles``, ``users.<u>.project_roles``), the last only
  for a member of that project, so that a PI of one project approves nothing in another.

Everything that does not depend on the request's groups is precomputed per listed user, so a request
without groups costs a few dictionary lookups, as before v2.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from hpcpolicy.engine.request import Request
from hpcpolicy.policy.schema import Policy

EMPTY: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Members:
    user_roles: Mapping[str, frozenset[str]]  # listed user → own roles ∪ their policy groups' roles
    user_groups: Mapping[str, frozenset[str]]  # listed user → users.<u>.groups
    user_projects: Mapping[str, tuple[str, ...]]  # listed user → own projects, then their groups', in order
    user_project_set: Mapping[str, frozenset[str]]
    user_default: Mapping[str, str]  # listed user → the default project without request groups
    own_default: Mapping[str, str]  # listed user → users.<u>.default_project
    group_roles: Mapping[str, frozenset[str]]
    group_order: Mapping[str, int]  # group → its position in the file
    group_projects: Mapping[str, tuple[str, ...]]  # only groups that grant membership
    group_default: Mapping[str, str]
    held: Mapping[str, Mapping[str, frozenset[str]]]  # project → user → roles held in it
    member_roles: Mapping[str, frozenset[str]]  # project → roles every member holds in it
    scoped: bool  # whether any role is held in a project (else project roles are skipped)

    def named(self, groups: Iterable[str]) -> tuple[str, ...]:
        """``groups`` the policy names, each once, in the given order: the only ones a decision reads.

        Front doors narrow a user's groups to these (a directory may list hundreds the policy never
        mentions), which keeps requests within their bound and records to what mattered.
        """
        return tuple(g for g in dict.fromkeys(groups) if g in self.group_order)

    def projects(self, user: str, groups: Iterable[str] = ()) -> tuple[str, ...]:
        """The projects ``user`` may charge with the request's ``groups``: own first, then by group order."""
        mine = self.user_projects.get(user, ())
        extra = self._extra_groups(user, groups) if groups else ()
        if not extra:
            return mine
        return tuple(dict.fromkeys((*mine, *(p for g in extra for p in self.group_projects[g]))))

    def default_project(self, user: str, groups: Iterable[str] = ()) -> str | None:
        """The project charged when a request names none (None: no project, or several and no default)."""
        if not groups or not self._extra_groups(user, groups):  # lint: a group's default is one of its projects
            return self.user_default.get(user)
        own = self.own_default.get(user)
        if own is not None:
            return own
        named = [g for g in (*self.user_groups.get(user, ()), *groups) if g in self.group_default]
        if named:
            return self.group_default[min(named, key=self.group_order.__getitem__)]
        projects = self.projects(user, groups)
        return projects[0] if len(projects) == 1 else None

    def is_member(self, user: str, groups: Iterable[str], project: str) -> bool:
        if project in self.user_project_set.get(user, EMPTY):
            return True
        return any(project in self.group_projects.get(g, ()) for g in groups)

    def roles(self, request: Request, project: str | None) -> frozenset[str]:
        """The roles a decision on ``request`` charging ``project`` sees (see the module docstring)."""
        user = request.user_id
        granted = self.user_roles.get(user, EMPTY)
        if request.roles:
            granted = granted.union(request.roles)
        for group in request.groups:
            extra = self.group_roles.get(group)
            if extra:
                granted = granted | extra
        if self.scoped and project is not None:
            here = self.member_roles.get(project, EMPTY)
            per_user = self.held.get(project)
            if per_user is not None:
                here = here | per_user.get(user, EMPTY)
            if here and self.is_member(user, request.groups, project):
                granted = granted | here
        return granted

    def _extra_groups(self, user: str, groups: Iterable[str]) -> list[str]:
        """The request's groups that grant membership and that the policy does not already list for the
        user (those are precomputed), in policy order."""
        known = self.user_groups.get(user, EMPTY)
        extra = {g for g in groups if g in self.group_projects and g not in known}
        return sorted(extra, key=self.group_order.__getitem__)


def compile_members(policy: Policy) -> Members:
    groups = policy.groups
    order = {name: i for i, name in enumerate(groups)}
    group_projects = {name: tuple(dict.fromkeys(g.projects)) for name, g in groups.items() if g.projects}
    group_default = {name: g.default_project for name, g in groups.items() if g.default_project is not None}
    held: dict[str, dict[str, set[str]]] = {}
    member_roles: dict[str, frozenset[str]] = {}
    for org in policy.orgs.values():
        for team in org.teams.values():
            for project_name, project in team.projects.items():
                if project.member_roles:
                    member_roles[project_name] = frozenset(project.member_roles)
                for role, holders in project.roles.items():
                    for holder in holders:
                        held.setdefault(project_name, {}).setdefault(holder, set()).add(role)
    user_roles: dict[str, frozenset[str]] = {}
    user_projects: dict[str, tuple[str, ...]] = {}
    user_default: dict[str, str] = {}
    for name, user in policy.users.items():
        for project_name, roles in user.project_roles.items():
            held.setdefault(project_name, {}).setdefault(name, set()).update(roles)
        mine = sorted({g for g in user.groups if g in groups}, key=order.__getitem__)  # unknown: a lint error
        user_roles[name] = frozenset(user.roles).union(*(groups[g].roles for g in mine))
        projects = tuple(dict.fromkeys((*user.projects, *(p for g in mine for p in group_projects.get(g, ())))))
        user_projects[name] = projects
        named = [group_default[g] for g in mine if g in group_default]
        default = user.default_project or (named[0] if named else None)
        if default is None and len(projects) == 1:
            default = projects[0]
        if default is not None:
            user_default[name] = default
    return Members(
        user_roles=user_roles,
        user_groups={name: frozenset(user.groups) for name, user in policy.users.items()},
        user_projects=user_projects,
        user_project_set={name: frozenset(projects) for name, projects in user_projects.items()},
        user_default=user_default,
        own_default={name: u.default_project for name, u in policy.users.items() if u.default_project is not None},
        group_roles={name: frozenset(g.roles) for name, g in groups.items() if g.roles},
        group_order=order,
        group_projects=group_projects,
        group_default=group_default,
        held={p: {u: frozenset(r) for u, r in users.items()} for p, users in held.items()},
        member_roles=member_roles,
        scoped=bool(held or member_roles),
    )
