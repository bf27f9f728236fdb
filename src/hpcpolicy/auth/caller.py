"""Who is calling, as proven by a credential, and what that lets them claim about a request.

Zero trust: a request body may say ``user_id: alice, roles: [gpu_user], groups: [genomics-lab]``, but only
a caller that is trusted to speak for users (a gateway's API key, or dev mode) is believed. Anyone else is
the user their token names, with the roles and groups their token grants; the body cannot add to any.

Who made a record is stored as a typed :attr:`Caller.principal` (``user:alice``, ``key:slurm-gateway``,
``dev``), never the bare subject: an API key and a JWT user may carry the same name and are still two
different principals, so neither reads what the other did.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal, NamedTuple

from hpcpolicy.auth.errors import Forbidden, IdentityRequired

CallerKind = Literal["user", "service", "dev"]

SCOPE_DECIDE = "decide"
SCOPE_ADMIN = "admin"
#: Report usage facts: a job started or ended, when, on what, and its scheduler job id. Held by the
#: scheduler side (the Slurm controller's key, a gateway that reports for its scheduler), never by a user.
SCOPE_REPORT = "report"


class Identity(NamedTuple):
    """Whom a decision is for: the user, and the roles and groups believed for them (each once)."""

    user_id: str
    roles: tuple[str, ...]
    groups: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Caller:
    """A verified identity. ``subject`` is the user id (JWT) or the API key's name (service)."""

    subject: str
    kind: CallerKind
    roles: frozenset[str] = field(default_factory=frozenset)
    groups: frozenset[str] = field(default_factory=frozenset)
    scopes: frozenset[str] = field(default_factory=frozenset)
    may_assert_identity: bool = False

    @property
    def is_admin(self) -> bool:
        """A property, not a method: ``if who.is_admin`` must never be true merely because it is callable."""
        return SCOPE_ADMIN in self.scopes

    @property
    def trusted(self) -> bool:
        """Sees and acts on every user's records: an admin, or a key that speaks for users (a gateway)."""
        return self.is_admin or self.may_assert_identity

    @property
    def may_report_usage(self) -> bool:
        """Usage comes from the scheduler side only: an admin, or a key holding the ``report`` scope.

        A user's token never does, whatever its roles: otherwise a job's owner could set their own bill.
        """
        return self.has_scope(SCOPE_REPORT)

    @property
    def principal(self) -> str:
        """Who this caller is, typed, as records store it: ``user:<id>``, ``key:<name>`` or ``dev``.

        ``subject`` alone is ambiguous (a key named ``alice`` is not the user ``alice``); messages use
        :meth:`describe`, records and comparisons use this.
        """
        if self.kind == "user":
            return f"user:{self.subject}"
        if self.kind == "service":
            return f"key:{self.subject}"
        return "dev"

    def speaks_for(self, user_id: str | None, caller: str | None = None) -> bool:
        """May see and act on a record made for ``user_id`` by the principal ``caller``.

        Trusted callers always may. A user may when the record is theirs (a record's ``user_id`` always
        names a user, never a key) or they made it; any other key only for records it made itself. A
        record written before principals were typed holds a bare name, which equals no principal: only
        trusted callers see it.
        """
        if self.trusted or (caller is not None and caller == self.principal):
            return True
        return self.kind == "user" and user_id == self.subject

    def has_scope(self, scope: str) -> bool:
        """Admin implies every scope: an admin can replace the policy, which is more than any scope grants."""
        return scope in self.scopes or self.is_admin

    def identity_for(
        self, body_user_id: str | None, body_roles: Iterable[str] | None, body_groups: Iterable[str] | None = None
    ) -> Identity:
        """The user, roles and groups a decision is made for, given what the request body claims.

        - May assert identities (gateway key, dev mode): the body is believed, and must name the user
          (422 otherwise: a missing field, not a missing right).
        - JWT user: the token's subject, roles and groups. Body roles and groups are ignored (groups grant
          roles and project memberships as surely as roles do); a body ``user_id`` naming anyone else is
          refused (403), since that would spend another user's budget.
        - Service key that may not assert: refused (403); it has no user to decide for.

        Requires the ``decide`` scope: this is what a decision route calls first.
        """
        require_scope(self, SCOPE_DECIDE)
        if self.may_assert_identity:
            if body_user_id is None:
                raise IdentityRequired(f"user_id is required: {self.describe()} speaks for users, so name one")
            roles, groups = tuple(dict.fromkeys(body_roles or ())), tuple(dict.fromkeys(body_groups or ()))
            return Identity(body_user_id, roles, groups)
        if self.kind == "user":
            if body_user_id is not None and body_user_id != self.subject:
                raise Forbidden(f"user {self.subject!r} may not make requests for user {body_user_id!r}")
            return Identity(self.subject, tuple(sorted(self.roles)), tuple(sorted(self.groups)))
        raise Forbidden(
            f"{self.describe()} may not make decisions for users: call with the user's token, "
            "or use a key created with may_assert_identity (a trusted gateway)"
        )

    def describe(self) -> str:
        """``user 'alice'``, ``API key 'slurm-gateway'`` or ``dev mode``, for messages and logs."""
        if self.kind == "user":
            return f"user {self.subject!r}"
        if self.kind == "service":
            return f"API key {self.subject!r}"
        return "dev mode"


def require_scope(caller: Caller, scope: str) -> None:
    """Raise :class:`Forbidden` unless the caller holds ``scope`` (or is admin)."""
    if not caller.has_scope(scope):
        raise Forbidden(f"{caller.describe()} lacks the {scope!r} scope")


def require_reporter(caller: Caller, what: str = "report usage") -> None:
    """Raise :class:`Forbidden` unless the caller may report usage facts (``report`` scope, or admin)."""
    if not caller.may_report_usage:
        raise Forbidden(
            f"{caller.describe()} may not {what}: usage comes from the scheduler side "
            "(an admin, or an API key with the 'report' scope)"
        )


def require_admin(caller: Caller) -> None:
    """Raise :class:`Forbidden` unless the caller is an admin (``admin`` scope, ``hpcpolicy:admin`` or admin role)."""
    if not caller.is_admin:
        raise Forbidden(f"{caller.describe()} is not an admin")


DEV_CALLER = Caller(
    subject="dev",
    kind="dev",
    scopes=frozenset({SCOPE_DECIDE, SCOPE_ADMIN}),
    may_assert_identity=True,
)
"""The caller of every request when no credentials are configured (loopback-only servers, tests)."""
