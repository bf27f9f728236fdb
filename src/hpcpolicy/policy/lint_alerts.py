"""Cross-reference checks of budget alerts: unique rule names and thresholds, channels that name a declared
webhook (or ``email``), contacts listed once, patterns that can match something."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from fnmatch import fnmatchcase

from hpcpolicy.policy.errors import Path, PolicyIssue
from hpcpolicy.policy.schema import Policy
from hpcpolicy.policy.schema.alerts import EMAIL


def lint_alerts(policy: Policy) -> Iterator[PolicyIssue]:
    alerts = policy.alerts
    yield from _duplicates(("alerts", "webhooks"), alerts.webhooks, "webhook")
    for i, hook in enumerate(alerts.webhooks):
        if hook == EMAIL:
            yield PolicyIssue(("alerts", "webhooks", i), f"{EMAIL!r} is the channel of the contacts: name the webhook "
                                                         "otherwise")  # fmt: skip
    yield from _duplicates(("alerts", "rules"), [rule.name for rule in alerts.rules], "rule name", "name")
    declared = {EMAIL, *alerts.webhooks}
    scopes = _scopes(policy)
    for i, rule in enumerate(alerts.rules):
        base: Path = ("alerts", "rules", i)
        yield from _duplicates((*base, "used"), [f"{t:g}" for t in rule.used], "threshold")
        yield from _duplicates((*base, "channels"), rule.channels, "channel")
        for j, channel in enumerate(rule.channels):
            if channel not in declared:
                known = ", ".join(sorted(declared))
                yield PolicyIssue((*base, "channels", j), f"unknown channel {channel!r}: declare it in alerts.webhooks "
                                                          f"(channels here: {known})")  # fmt: skip
        for j, pattern in enumerate(rule.scopes):
            if pattern.startswith(("user:", "member:")):
                continue  # users the policy does not list are scopes too (their default quota)
            if not any(fnmatchcase(scope, pattern) for scope in scopes):
                yield PolicyIssue((*base, "scopes", j), f"{pattern!r} matches no scope of this policy", "warning")
    for path, contacts in contact_lists(policy):
        yield from _duplicates(path, [c.lower() for c in contacts], "contact")


def contact_lists(policy: Policy) -> Iterator[tuple[Path, Sequence[str]]]:
    """Every ``contacts`` list of the policy with its path."""
    for org_name, org in policy.orgs.items():
        yield ("orgs", org_name, "contacts"), org.contacts
        for team_name, team in org.teams.items():
            yield ("orgs", org_name, "teams", team_name, "contacts"), team.contacts
            for project_name, project in team.projects.items():
                path: Path = ("orgs", org_name, "teams", team_name, "projects", project_name, "contacts")
                yield path, project.contacts
    for user_name, user in policy.users.items():
        yield ("users", user_name, "contacts"), user.contacts


def _scopes(policy: Policy) -> list[str]:
    """The org, team and project scopes of the tree."""
    found: list[str] = []
    for org_name, org in policy.orgs.items():
        found.append(f"org:{org_name}")
        for team_name, team in org.teams.items():
            found.append(f"team:{team_name}")
            found += [f"project:{p}" for p in team.projects]
    return found


def _duplicates(path: Path, values: Sequence[str], what: str, field: str | None = None) -> Iterator[PolicyIssue]:
    seen: dict[str, int] = {}
    for i, value in enumerate(values):
        if value in seen:
            where: Path = (*path, i, field) if field else (*path, i)
            yield PolicyIssue(where, f"duplicate {what} {value!r} (also at [{seen[value]}])")
        seen.setdefault(value, i)
