"""Who may use a partition: role and project allow and deny lists (checked before the caps)."""

from __future__ import annotations

from hpcpolicy.engine.codes import Code
from hpcpolicy.engine.decision import Violation
from hpcpolicy.engine.partitionref import PartitionRef


def access_violations(part: PartitionRef, roles: frozenset[str], project: str | None, scope: str) -> list[Violation]:
    """Why the caller (``roles``, charging ``project``) may not use ``part``: empty when they may."""
    found: list[Violation] = []
    denied_roles = part.deny_roles & roles
    if denied_roles:
        found.append(
            Violation(Code.PARTITION_ACCESS_DENIED, f"role {min(denied_roles)} may not use {part.name}", scope)
        )
    if part.roles and not part.roles & roles:
        need = " or ".join(sorted(part.roles))
        found.append(
            Violation(Code.PARTITION_ROLE_REQUIRED, f"partition {part.name} requires role {need}", scope, limit=need)
        )
    if project is not None and project in part.deny_projects:
        found.append(Violation(Code.PARTITION_ACCESS_DENIED, f"project {project} may not use {part.name}", scope))
    elif part.projects and project not in part.projects:
        found.append(
            Violation(
                Code.PARTITION_ACCESS_DENIED,
                f"partition {part.name} is reserved for projects {', '.join(sorted(part.projects))}",
                scope,
                requested=project,
            )
        )
    return found
