"""Which project a request charges, the account path its usage climbs (user → project → team → org), and
the roles the caller holds for it (some are held in one project only, so roles follow the project)."""

from __future__ import annotations

from hpcpolicy.engine.codes import Code
from hpcpolicy.engine.decision import Violation
from hpcpolicy.engine.request import Request
from hpcpolicy.engine.snapshot import PolicySnapshot


def resolve_account(request: Request, snap: PolicySnapshot) -> tuple[str | None, tuple[str, ...], list[Violation]]:
    """Return (project, account path, violations).

    A named project must exist and the user must be a member: listed in it, or (v2) in a group that
    grants it, through the policy's ``users.<u>.groups`` or the request's ``groups``. Without one, the
    default project is used (see :mod:`hpcpolicy.engine.members`). A user who is a member of nothing
    charges no project: their usage is bounded by their own quota (the default user quota if unlisted).
    """
    user_id, members = request.user_id, snap.members
    user_scope = f"user:{user_id}"
    project = request.project
    found: list[Violation] = []
    if project is None:
        project = members.default_project(user_id, request.groups)
        if project is None and (several := members.projects(user_id, request.groups)):
            found.append(
                Violation(
                    Code.PROJECT_REQUIRED,
                    f"user {user_id} belongs to several projects and has no default; name one",
                    user_scope,
                    limit=", ".join(several),
                )
            )
    elif project not in snap.project_parents:
        found.append(Violation(Code.PROJECT_UNKNOWN, f"project {project} is not in the policy", f"project:{project}"))
        return None, (user_scope,), found
    elif not members.is_member(user_id, request.groups, project):
        found.append(
            Violation(
                Code.PROJECT_NOT_MEMBER,
                f"user {user_id} is not a member of project {project}",
                f"project:{project}",
                requested=user_id,
            )
        )
    if project is None:
        return None, (user_scope,), found
    team, org = snap.project_parents[project]
    return project, (user_scope, f"project:{project}", f"team:{team}", f"org:{org}"), found


def effective_roles(request: Request, snap: PolicySnapshot, project: str | None) -> frozenset[str]:
    """Roles the caller asserted (vetted by the identity layer), those the policy grants the user and their
    groups, and those held in ``project`` when the user is a member of it."""
    return snap.members.roles(request, project)
