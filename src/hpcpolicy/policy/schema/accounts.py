"""The account tree (org → team → project), users and groups."""

from __future__ import annotations

from pydantic import Field

from hpcpolicy.policy.schema.common import V2, Model, Name
from hpcpolicy.policy.schema.quotas import Metrics, Quota


class Share(Model):
    """This scope's guaranteed part of a quota of its parent (a project's of its team's, a team's of its
    org's), as Kueue's nominal quota and borrowing limit: siblings cannot consume it, and with
    ``borrow_limit`` this scope may use no more than ``guaranteed`` plus that of the parent's quota."""

    quota: Name | None = None
    """The parent's quota, by name (default: the parent's only quota)."""
    guaranteed: Metrics
    borrow_limit: Metrics | None = None


class Member(Model):
    """One member's own share inside a project, replacing the project's ``member_quotas`` for them."""

    quotas: list[Quota] = []


class Project(Model):
    quotas: list[Quota] = []
    description: str | None = None
    member_quotas: list[Quota] = Field(default=[], json_schema_extra=V2)
    """Each member's budget inside this project (scope ``project:<p>/user:<u>``), distinct from the user's
    personal quota across projects; ``members.<user>.quotas`` replaces it for one member."""
    members: dict[Name, Member] = Field(default={}, json_schema_extra=V2)
    share: Share | None = Field(default=None, json_schema_extra=V2)


class Team(Model):
    quotas: list[Quota] = []
    projects: dict[Name, Project] = {}
    share: Share | None = Field(default=None, json_schema_extra=V2)


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
