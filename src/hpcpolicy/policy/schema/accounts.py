"""The account tree (org → team → project), users and groups."""

from __future__ import annotations

from pydantic import Field

from hpcpolicy.policy.schema.alerts import Email
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
    """A project: what its jobs charge. ``roles`` and ``member_roles`` (v2) are roles held for this
    project's jobs only, so that a PI of one project approves nothing in another."""

    quotas: list[Quota] = []
    description: str | None = None
    member_quotas: list[Quota] = Field(default=[], json_schema_extra=V2)
    """Each member's budget inside this project (scope ``project:<p>/user:<u>``), distinct from the user's
    personal quota across projects; ``members.<user>.quotas`` replaces it for one member."""
    members: dict[Name, Member] = Field(default={}, json_schema_extra=V2)
    share: Share | None = Field(default=None, json_schema_extra=V2)
    roles: dict[Name, list[Name]] = Field(default={}, json_schema_extra=V2)
    """role → the users who hold it in this project (``{pi: [dan]}``)."""
    member_roles: list[Name] = Field(default=[], json_schema_extra=V2)
    """Roles every member holds for this project's jobs (``[dgx_access]``)."""
    contacts: list[Email] = Field(default=[], max_length=50, json_schema_extra=V2)
    """Addresses that budget alerts of this scope are mailed to (docs/alerts.md)."""


class Team(Model):
    quotas: list[Quota] = []
    projects: dict[Name, Project] = {}
    share: Share | None = Field(default=None, json_schema_extra=V2)
    contacts: list[Email] = Field(default=[], max_length=50, json_schema_extra=V2)
    """Addresses that budget alerts of this scope are mailed to (docs/alerts.md)."""


class Org(Model):
    quotas: list[Quota] = []
    teams: dict[Name, Team] = {}
    contacts: list[Email] = Field(default=[], max_length=50, json_schema_extra=V2)
    """Addresses that budget alerts of this scope are mailed to (docs/alerts.md)."""


class User(Model):
    """A known user: projects they may charge, the one used when a request names none, granted roles."""

    projects: list[Name] = []
    default_project: Name | None = None
    roles: list[Name] = []
    groups: list[Name] = []
    quotas: list[Quota] = []
    project_roles: dict[Name, list[Name]] = Field(default={}, json_schema_extra=V2)
    """project → roles this user holds for that project's jobs only (``{imaging-ai: [pi]}``)."""
    contacts: list[Email] = Field(default=[], max_length=50, json_schema_extra=V2)
    """Addresses that budget alerts of this scope are mailed to (docs/alerts.md)."""


class Group(Model):
    """A Unix or directory group. Its members get ``roles``; in v2 they may also charge ``projects``,
    ``default_project`` first when a request names none (so users need not be listed one by one)."""

    roles: list[Name] = []
    projects: list[Name] = Field(default=[], json_schema_extra=V2)
    default_project: Name | None = Field(default=None, json_schema_extra=V2)
