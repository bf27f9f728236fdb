"""The account tree (org → team → project), users and groups."""

from __future__ import annotations

from pydantic import Field

from hpcpolicy.policy.schema.common import V2, Model, Name
from hpcpolicy.policy.schema.quotas import Quota


class Project(Model):
    """A project: what its jobs charge. ``roles`` and ``member_roles`` (v2) are roles held for this
    project's jobs only, so that a PI of one project approves nothing in another."""

    quotas: list[Quota] = []
    description: str | None = None
    roles: dict[Name, list[Name]] = Field(default={}, json_schema_extra=V2)
    """role → the users who hold it in this project (``{pi: [dan]}``)."""
    member_roles: list[Name] = Field(default=[], json_schema_extra=V2)
    """Roles every member holds for this project's jobs (``[dgx_access]``)."""


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
    project_roles: dict[Name, list[Name]] = Field(default={}, json_schema_extra=V2)
    """project → roles this user holds for that project's jobs only (``{imaging-ai: [pi]}``)."""


class Group(Model):
    """A Unix or directory group. Its members get ``roles``; in v2 they may also charge ``projects``,
    ``default_project`` first when a request names none (so users need not be listed one by one)."""

    roles: list[Name] = []
    projects: list[Name] = Field(default=[], json_schema_extra=V2)
    default_project: Name | None = Field(default=None, json_schema_extra=V2)
