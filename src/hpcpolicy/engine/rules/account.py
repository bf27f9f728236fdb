"""Which project a request charges, and the account path its usage climbs (user → project → team → org)."""

from __future__ import annotations

from hpcpolicy.engine.codes import Code
from hpcpolicy.engine.decision import Violation
from hpcpolicy.engine.request import Request
from hpcpolicy.engine.snapshot import PolicySnapshot


def resolve_account(request: Request, snap: PolicySnapshot) -> tuple[str | None, tuple[str, ...], list[Violation]]:
    """Return (project, account path, violations).

    A named project must exist and list the user as a member; without one, the user's default project
    is used (or their only project). A user the policy does not list may charge no project: their usage
    is bounded by the default user quota alone.
    """
    user_scope = f"user:{request.user_id}"
    user = snap.policy.users.get(request.user_id)
    project = request.project
    found: list[Violation] = []
    if project is None:
        if user is not None:
            project = user.default_project or (user.projects[0] if len(user.projects) == 1 else None)
            if project is None and user.projects:
                found.append(
                    Violation(
                        Code.PROJECT_REQUIRED,
                        f"user {request.user_id} belongs to several projects and has no default; name one",
                        user_scope,
                        limit=", ".join(user.projects),
                    )
                )
    elif project not in snap.project_parents:
        found.append(Violation(Code.PROJECT_UNKNOWN, f"project {project} is not in the policy", f"project:{project}"))
        return None, (user_scope,), found
    elif user is None or project not in user.projects:
        found.append(
            Violation(
                Code.PROJECT_NOT_MEMBER,
                f"user {request.user_id} is not a member of project {project}",
                f"project:{project}",
                requested=request.user_id,
            )
        )
    if project is None:
        return None, (user_scope,), found
    team, org = snap.project_parents[project]
    return project, (user_scope, f"project:{project}", f"team:{team}", f"org:{org}"), found
