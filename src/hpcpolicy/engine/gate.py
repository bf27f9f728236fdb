"""Access blocks other than a partition's own (a QOS's ``access``, a schedule's ``exempt``), compiled once.

The one place that reads such a block: :func:`gate` compiles it, :func:`refusal` says why a caller does
not match (None when they do). It reads the v1 fields (role and project allow and deny lists, deny
winning, as a partition's ``access``), so that when access blocks grow ``any_of``/``all_of`` only this
module changes.
"""

from __future__ import annotations

from dataclasses import dataclass

from hpcpolicy.policy.schema.access import Access


@dataclass(frozen=True, slots=True)
class Gate:
    """An access block ready to match: empty allow lists allow everyone, deny lists win."""

    roles: frozenset[str]
    deny_roles: frozenset[str]
    projects: frozenset[str]
    deny_projects: frozenset[str]


def gate(access: Access) -> Gate:
    return Gate(
        frozenset(access.roles),
        frozenset(access.deny_roles),
        frozenset(access.projects),
        frozenset(access.deny_projects),
    )


def refusal(rule: Gate, roles: frozenset[str], project: str | None) -> str | None:
    """Why a caller holding ``roles`` and charging ``project`` does not match ``rule`` (None: they match).

    The phrase completes a sentence about the thing guarded: "qos long " + "requires role long_jobs".
    """
    denied = rule.deny_roles & roles
    if denied:
        return f"is denied to role {min(denied)}"
    if rule.roles and not rule.roles & roles:
        return f"requires role {' or '.join(sorted(rule.roles))}"
    if project is not None and project in rule.deny_projects:
        return f"is denied to project {project}"
    if rule.projects and project not in rule.projects:
        return f"is reserved for projects {', '.join(sorted(rule.projects))}"
    return None
