"""Who hears of a scope's alerts: its own ``contacts``, else the nearest parent's that has some.

A project without contacts falls back to its team's, then its org's (an alert nobody receives is useless;
the people who manage the parent budget manage the project's too). A member's budget inside a project
(``project:p/user:u``) goes to the project's contacts; a user's own budget to the user's contacts only.
"""

from __future__ import annotations

from collections.abc import Mapping

from hpcpolicy.policy.schema import Policy


def contacts_by_scope(policy: Policy) -> Mapping[str, tuple[str, ...]]:
    """Each org, team, project and listed user's resolved contacts (fallback applied; empty: nobody)."""
    found: dict[str, tuple[str, ...]] = {}
    for org_name, org in policy.orgs.items():
        org_contacts = tuple(org.contacts)
        found[f"org:{org_name}"] = org_contacts
        for team_name, team in org.teams.items():
            team_contacts = tuple(team.contacts) or org_contacts
            found[f"team:{team_name}"] = team_contacts
            for project_name, project in team.projects.items():
                found[f"project:{project_name}"] = tuple(project.contacts) or team_contacts
    for user_name, user in policy.users.items():
        found[f"user:{user_name}"] = tuple(user.contacts)
    return found


def recipients(contacts: Mapping[str, tuple[str, ...]], scope: str) -> tuple[str, ...]:
    """The addresses an alert on ``scope`` is mailed to (a member scope: its project's)."""
    if scope.startswith("project:") and "/user:" in scope:
        scope = scope.partition("/user:")[0]
    return contacts.get(scope, ())
