"""Who may use what an access block guards: compiled once per block, checked per request.

An access block (:class:`~hpcpolicy.policy.schema.Access`) becomes an :class:`AccessRule` when the policy
is compiled: its lists as frozensets, its ``any_of``/``all_of`` alternatives as a small tree of
:class:`Clause`, and the wording and codes of what it guards (a partition today; a QOS, a schedule's
exemption) baked in, so a check is set operations and the messages are ready. A partition's failures
keep their v1 codes: ``partition.role_required`` for the top-level ``roles`` clause,
``partition.access_denied`` for deny lists, the project allow-list and failed alternatives.
"""

from __future__ import annotations

from dataclasses import dataclass

from hpcpolicy.engine.codes import Code
from hpcpolicy.engine.decision import Violation
from hpcpolicy.policy.schema import Access


@dataclass(frozen=True, slots=True)
class Clause:
    """One alternative of ``any_of``/``all_of`` (an access block without deny lists), and how it reads."""

    roles: frozenset[str]
    projects: frozenset[str]
    any_of: tuple[Clause, ...]
    all_of: tuple[Clause, ...]
    text: str

    def matches(self, roles: frozenset[str], project: str | None) -> bool:
        if self.roles and self.roles.isdisjoint(roles):
            return False
        if self.projects and project not in self.projects:
            return False
        if self.any_of and not any(alt.matches(roles, project) for alt in self.any_of):
            return False
        return all(alt.matches(roles, project) for alt in self.all_of)


@dataclass(frozen=True, slots=True)
class AccessRule:
    """A compiled access block guarding ``what`` (``partition gpu``), short name ``name`` (``gpu``).

    ``denied`` and ``role_required`` are the codes its failures carry; ``allow`` holds its allow clauses;
    ``open`` is true when the block says nothing, the common case, which then costs one attribute test.
    """

    what: str
    name: str
    denied: Code
    role_required: Code
    deny_roles: frozenset[str]
    deny_projects: frozenset[str]
    allow: Clause
    open: bool

    def allows(self, roles: frozenset[str], project: str | None) -> bool:
        """Whether the caller matches (no deny list, every clause), without saying why: for blocks that
        grant something (a schedule's exemption) rather than guard it."""
        if self.open:
            return True
        if self.deny_roles and not self.deny_roles.isdisjoint(roles):
            return False
        if project is not None and project in self.deny_projects:
            return False
        return self.allow.matches(roles, project)

    def check(self, roles: frozenset[str], project: str | None, scope: str) -> list[Violation]:
        """Why the caller (``roles``, charging ``project``) may not use it: empty when they may.

        Each failed clause is its own violation, as in v1 (a role requirement and a deny list are both
        reported); a failed ``any_of`` or ``all_of`` names its alternatives.
        """
        if self.open:
            return []
        found: list[Violation] = []
        allow = self.allow
        denied_roles = self.deny_roles & roles
        if denied_roles:
            found.append(Violation(self.denied, f"role {min(denied_roles)} may not use {self.name}", scope))
        if allow.roles and allow.roles.isdisjoint(roles):
            need = " or ".join(sorted(allow.roles))
            found.append(Violation(self.role_required, f"{self.what} requires role {need}", scope, limit=need))
        if project is not None and project in self.deny_projects:
            found.append(Violation(self.denied, f"project {project} may not use {self.name}", scope))
        elif allow.projects and project not in allow.projects:
            listed = ", ".join(sorted(allow.projects))
            message = f"{self.what} is reserved for projects {listed}"
            found.append(Violation(self.denied, message, scope, requested=project))
        if allow.any_of and not any(alt.matches(roles, project) for alt in allow.any_of):
            need = "; ".join(alt.text for alt in allow.any_of)
            found.append(Violation(self.denied, f"{self.what} requires one of: {need}", scope, limit=need))
        if allow.all_of:
            lacking = [alt.text for alt in allow.all_of if not alt.matches(roles, project)]
            if lacking:
                need = "; ".join(alt.text for alt in allow.all_of)
                message = f"{self.what} requires all of: {need} (lacking {'; '.join(lacking)})"
                found.append(Violation(self.denied, message, scope, limit=need))
        return found


def access_rule(
    access: Access,
    what: str,
    name: str,
    denied: Code = Code.PARTITION_ACCESS_DENIED,
    role_required: Code = Code.PARTITION_ROLE_REQUIRED,
) -> AccessRule:
    """Compile ``access``, which guards ``what`` (``partition gpu``, ``QOS long``) named ``name`` in messages."""
    return AccessRule(
        what=what,
        name=name,
        denied=denied,
        role_required=role_required,
        deny_roles=frozenset(access.deny_roles),
        deny_projects=frozenset(access.deny_projects),
        allow=_clause(access),
        open=not (access.roles or access.projects or access.denies or access.any_of or access.all_of),
    )


def _clause(access: Access) -> Clause:
    """The allow clauses of ``access``. An alternative's deny lists are refused by ``policy check``
    (:mod:`hpcpolicy.policy.lint_who`), so only the top level's are read (by :func:`access_rule`)."""
    any_of = tuple(_clause(alt) for alt in access.any_of or ())
    all_of = tuple(_clause(alt) for alt in access.all_of or ())
    return Clause(frozenset(access.roles), frozenset(access.projects), any_of, all_of, describe(access))


def describe(access: Access) -> str:
    """An access block's allow clauses as a message reads them: ``role himem or pi and project x``."""
    parts = []
    if access.roles:
        parts.append("role " + " or ".join(sorted(access.roles)))
    if access.projects:
        parts.append("project " + " or ".join(sorted(access.projects)))
    if access.any_of:
        parts.append("one of (" + "; ".join(describe(alt) for alt in access.any_of) + ")")
    if access.all_of:
        parts.append("all of (" + "; ".join(describe(alt) for alt in access.all_of) + ")")
    return " and ".join(parts) or "anyone"


def access_violations(rule: AccessRule, roles: frozenset[str], project: str | None, scope: str) -> list[Violation]:
    """Why the caller may not use what ``rule`` guards (empty when they may): ``rule.check``."""
    return rule.check(roles, project, scope)
