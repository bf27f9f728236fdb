"""Who may use a partition."""

from __future__ import annotations

from hpcpolicy.policy.schema.common import Model, Name


class Access(Model):
    """Who may use a partition. Deny lists win over allow lists; empty allow lists allow everyone."""

    roles: list[Name] = []
    deny_roles: list[Name] = []
    projects: list[Name] = []
    deny_projects: list[Name] = []
