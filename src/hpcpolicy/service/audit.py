"""Reading the audit log (docs/design/audit.md): sealed events in order, for an auditor or a user."""

from __future__ import annotations

from hpcpolicy.ledger.events import TYPES, Event
from hpcpolicy.service.context import Context
from hpcpolicy.service.errors import InvalidInput

_SCOPE_KINDS = frozenset({"user", "project", "team", "org"})


class AuditLog:
    def __init__(self, ctx: Context):
        self.ctx = ctx

    def events(
        self, after: int, limit: int, types: tuple[str, ...] = (), scope: str | None = None, user: str | None = None
    ) -> list[Event]:
        """Sealed events after ``after`` (a cursor: the last ``seq`` read), oldest first."""
        unknown = sorted(set(types) - TYPES)
        if unknown:
            raise InvalidInput(f"unknown event type {unknown[0]}: one of {', '.join(sorted(TYPES))}")
        if scope is not None and scope.partition(":")[0] not in _SCOPE_KINDS:
            raise InvalidInput(f"scope {scope}: events concern user:, project:, team: or org: scopes")
        return self.ctx.ledger.events(after, limit, types, scope, user)
