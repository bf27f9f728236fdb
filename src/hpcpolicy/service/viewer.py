"""Who is reading, and which scopes and decision records that lets them see: the one rule of the API's
reads (``/v1/usage``, ``/v1/alerts``, ``/v1/events``, ``/v1/reports``) and the dashboard's pages.

Admins and trusted keys (gateways) see everything; a user sees their own user scope, the projects they
may charge (directly or through their groups) and their own share inside each (``project:p/user:u``);
decision records they are the user of, made themselves, or made for a project they belong to. A key that
may not speak for users sees only the records it made.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hpcpolicy.auth import Caller
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

    @classmethod
    def of(cls, who: Caller) -> Viewer:
        """The viewer a verified caller is."""
        return cls(who.principal, who.trusted, who.subject if who.kind == "user" else None, who.groups)

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
        if self.user is None:
            return []
        projects = self.projects(snapshot)
        return [f"user:{self.user}", *projects, *(f"{p}/user:{self.user}" for p in projects)]

    def may_read(self, scope: str, snapshot: PolicySnapshot) -> bool:
        if self.everything:
            return True
        if self.user is None:
            return False
        if scope == f"user:{self.user}":
            return True
        if not scope.startswith("project:"):
            return False
        project, member, user = scope.removeprefix("project:").partition("/user:")
        if member and user != self.user:
            return False  # another member's share of the project
        return snapshot.members.is_member(self.user, self.groups, project)

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
