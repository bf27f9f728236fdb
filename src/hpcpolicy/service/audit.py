"""Reading the audit log (docs/design/audit.md): sealed events in order, for an auditor or a user."""

from __future__ import annotations

from hpcpolicy.engine.limits import MAX_SCOPE_LENGTH, ident_problem
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
        check_filters(types, scope, user)
        return self.ctx.ledger.events(after, limit, types, scope, user)


def check_filters(types: tuple[str, ...], scope: str | None, user: str | None) -> None:
    """Refuse filters that name nothing (an unknown type or scope kind) or could not be stored (control
    characters, ids longer than a column): the HTTP API and the command line read the log alike."""
    unknown = sorted(set(types) - TYPES)
    if unknown:
        raise InvalidInput(f"unknown event type {unknown[0]}: one of {', '.join(sorted(TYPES))}")
    if scope is not None:
        if scope.partition(":")[0] not in _SCOPE_KINDS:
            raise InvalidInput(f"scope {scope!r}: events concern user:, project:, team: or org: scopes")
        if (problem := ident_problem(scope, MAX_SCOPE_LENGTH)) is not None:
            raise InvalidInput(f"scope: not a usable identifier: {problem}")
    if user is not None and (problem := ident_problem(user)) is not None:
        raise InvalidInput(f"user: not a usable identifier: {problem}")
