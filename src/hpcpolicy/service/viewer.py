"""Who is reading (the dashboard), and which scopes and decision records that lets them see.

The rule is the HTTP API's, stated once for the pages: admins and trusted keys (gateways) see everything;
a user sees their own user scope and the projects they may charge (directly or through their groups), as
``GET /v1/usage`` allows; decision records they are the user of, made themselves, or made for a project
they belong to. A key that may not speak for users sees only the records it made.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hpcpolicy.engine.snapshot import PolicySnapshot
from hpcpolicy.ledger import DecisionRecord


@dataclass(frozen=True, slots=True)
class Viewer:
    """``principal``: who they are as records store it (``user:alice``, ``key:ops``, ``dev``);
    ``everything``: an admin or a trusted key; ``user``/``groups``: the user a JWT names (None for a key)."""

    principal: str
    everything: bool = False
    user: str | None = None
    groups: frozenset[str] = field(default_factory=frozenset)

    def projects(self, snapshot: PolicySnapshot) -> list[str]:
        """The project scopes of the policy this viewer may charge (every one for ``everything``), sorted."""
        names = sorted(snapshot.project_parents)
        if not self.everything:
            if self.user is None:
                return []
            names = [p for p in names if snapshot.members.is_member(self.user, self.groups, p)]
        return [f"project:{name}" for name in names]

    def scopes(self, snapshot: PolicySnapshot) -> list[str] | None:
        """The scopes whose budgets this viewer reads: None for every one, else their own and their projects'."""
        if self.everything:
            return None
        own = [f"user:{self.user}"] if self.user is not None else []
        return own + self.projects(snapshot)

    def may_read(self, scope: str, snapshot: PolicySnapshot) -> bool:
        if self.everything:
            return True
        if self.user is None:
            return False
        if scope == f"user:{self.user}":
            return True
        project = scope.removeprefix("project:")
        return scope.startswith("project:") and snapshot.members.is_member(self.user, self.groups, project)

    def sees(self, record: DecisionRecord, snapshot: PolicySnapshot) -> bool:
        """Whether this viewer may open ``record``: theirs, made by them, or of a project they belong to."""
        if self.everything or record.caller == self.principal:
            return True
        if self.user is None:
            return False
        if record.user_id == self.user:
            return True
        project = project_of(record)
        return project is not None and snapshot.members.is_member(self.user, self.groups, project)


def project_of(record: DecisionRecord) -> str | None:
    """The project a decision charged (its account path), else the one its request named."""
    for scope in record.decision.get("account_path") or ():
        if isinstance(scope, str) and scope.startswith("project:"):
            return scope.removeprefix("project:")
    named: Any = record.decision.get("project") or record.request.get("project")
    return named if isinstance(named, str) else None
