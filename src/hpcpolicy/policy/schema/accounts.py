"""The account tree (org → team → project), users and groups."""

from __future__ import annotations

from hpcpolicy.policy.schema.common import Model, Name
from hpcpolicy.policy.schema.quotas import Quota


class Project(Model):
    quotas: list[Quota] = []
    description: str | None = None


class Team(Model):
    quotas: list[Quota] = []
    projects: dict[Name, Project] = {}


class Org(Model):
    quotas: list[Quota] = []
    teams: dict[Name, Team] = {}


class User(Model):
    """A known user: projects they may charge, the one used when a request names none, granted roles."""

    projects: list[Name] = []
    default_project: Name | None = None
    roles: list[Name] = []
    groups: list[Name] = []
    quotas: list[Quota] = []


class Group(Model):
    """A Unix or directory group; its members get ``roles`` (used by scheduler adapters)."""

    roles: list[Name] = []
