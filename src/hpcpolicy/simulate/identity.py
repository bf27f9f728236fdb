"""Who a trace job is in the policy: trace user and group ids become policy users, projects and roles.

Traces carry numeric or site-local ids (SWF user ``119``, group ``76``; sacct ``jab``); a policy names
people and projects. A mapping file (YAML) bridges them, and whatever it does not list follows a
documented default: user ``u<id>`` and project ``g<id>``, so a policy written for a trace can simply
use those names. Example::

    users:                      # trace user id → policy user (a name, or user/project/roles)
      "119": alice
      "120": {user: bob, project: variant-calling, roles: [gpu_user]}
    groups:                     # trace group id → policy project (a name, or project/roles)
      "76": wgs-cohort
    partitions:                 # trace partition or queue → policy partition ("cluster/partition" works)
      "4": cpu
    default_user: "u{id}"       # users not listed ({id} is the trace's id); the default shown
    default_project: "g{id}"    # groups not listed; null: name no project (the user's default applies)
    cpus_per_node: 64           # to turn processors into nodes (default: see the replay's request builder)

A user entry's project wins over the group's. Roles from the user and group entries are asserted on
the request (the policy's own grants still apply). A job whose trace has no user id is user
``unknown``; one without a group id names no project unless its user entry does.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from hpcpolicy.policy.yamlguard import safe_load

from .yamlpos import locate

Ident = Annotated[str, Field(min_length=1, max_length=256)]
UNKNOWN_USER = "unknown"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class UserEntry(_Model):
    """``alice`` is short for ``{user: alice}``."""

    user: Ident | None = None
    project: Ident | None = None
    roles: tuple[Ident, ...] = ()

    @model_validator(mode="before")
    @classmethod
    def _short(cls, data: Any) -> Any:
        return {"user": data} if isinstance(data, str) else data


class GroupEntry(_Model):
    """``wgs`` is short for ``{project: wgs}``."""

    project: Ident | None = None
    roles: tuple[Ident, ...] = ()

    @model_validator(mode="before")
    @classmethod
    def _short(cls, data: Any) -> Any:
        return {"project": data} if isinstance(data, str) else data


def _template(value: str | None) -> str | None:
    if value is not None:
        try:
            value.format(id="1")
        except (KeyError, IndexError, ValueError):
            raise ValueError("may only use the placeholder {id}") from None
    return value


class MappingFile(_Model):
    """The mapping file's shape; every section is optional."""

    users: dict[str, UserEntry] = {}
    groups: dict[str, GroupEntry] = {}
    partitions: dict[str, Ident] = {}
    default_user: Ident = "u{id}"
    default_project: Ident | None = "g{id}"
    cpus_per_node: Annotated[int, Field(ge=1)] | None = None

    _check_user = field_validator("default_user")(_template)
    _check_project = field_validator("default_project")(_template)


@dataclass(frozen=True, slots=True)
class Identity:
    """A trace job's policy identity: what goes into the request's user, project, roles and route."""

    user: str
    project: str | None
    roles: tuple[str, ...]
    cluster: str | None
    partition: str | None


class MappingError(ValueError):
    """A mapping file that cannot be used; each line of ``problems`` reads ``file:line: path: message``."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class IdentityMap:
    """Resolves (user, group, partition, queue) of a trace job; results are cached per distinct key."""

    def __init__(self, spec: MappingFile | None = None) -> None:
        self.spec = spec or MappingFile()
        self.cpus_per_node = self.spec.cpus_per_node
        self._cache: dict[tuple[str | None, str | None, str | None, str | None], Identity] = {}

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> IdentityMap:
        """Read a mapping file; raise :class:`MappingError` naming file and line of every problem."""
        name = os.fspath(path)
        try:
            with open(name, encoding="utf-8") as handle:
                text = handle.read()
        except OSError as exc:
            raise MappingError([f"{name}: cannot read the mapping file: {exc.strerror}"]) from None
        try:
            data = safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f"{name}:{mark.line + 1}" if mark is not None else name
            raise MappingError([f"{where}: invalid YAML: {getattr(exc, 'problem', None) or exc}"]) from None
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise MappingError([f"{name}:1: the mapping file must be a YAML mapping (users:, groups:, ...)"])
        try:
            return cls(MappingFile.model_validate(_string_keys(data)))
        except ValidationError as exc:
            problems = []
            for error in exc.errors():
                loc = [str(part) for part in error["loc"]]
                line = locate(text, loc)
                problems.append(f"{name}:{line}: {'.'.join(loc) or '(document)'}: {error['msg']}")
            raise MappingError(problems) from None

    def resolve(self, user: str | None, group: str | None, partition: str | None, queue: str | None) -> Identity:
        key = (user, group, partition, queue)
        found = self._cache.get(key)
        if found is None:
            found = self._cache[key] = self._resolve(user, group, partition, queue)
        return found

    def _resolve(self, user: str | None, group: str | None, partition: str | None, queue: str | None) -> Identity:
        spec = self.spec
        user_entry = spec.users.get(user) if user is not None else None
        group_entry = spec.groups.get(group) if group is not None else None
        name = user_entry.user if user_entry is not None and user_entry.user else None
        if name is None:
            name = spec.default_user.format(id=user) if user is not None else UNKNOWN_USER
        # An entry that names a project (even null: "no project") decides; otherwise the default template.
        if user_entry is not None and "project" in user_entry.model_fields_set:
            project = user_entry.project
        elif group_entry is not None and "project" in group_entry.model_fields_set:
            project = group_entry.project
        elif group is not None and spec.default_project is not None:
            project = spec.default_project.format(id=group)
        else:
            project = None
        roles = tuple(sorted({*(user_entry.roles if user_entry else ()), *(group_entry.roles if group_entry else ())}))
        target = next((spec.partitions[k] for k in (partition, queue) if k is not None and k in spec.partitions), None)
        cluster, part = _split_route(target)
        return Identity(name, project, roles, cluster, part)


def _split_route(target: str | None) -> tuple[str | None, str | None]:
    if target is None:
        return None, None
    cluster, slash, partition = target.rpartition("/")
    return (cluster, partition) if slash else (None, partition)


def _string_keys(data: dict[Any, Any]) -> dict[Any, Any]:
    """YAML reads ``119:`` as an int; trace ids are text, so section keys are compared as strings."""
    out = dict(data)
    for section in ("users", "groups", "partitions"):
        if isinstance(out.get(section), dict):
            out[section] = {str(key): value for key, value in out[section].items()}
    return out
