"""Which language a file speaks: fields of the v2 language are refused in a v1 file, naming the fix.

v2 is a superset of v1, so a v1 file always loads and means what it meant. Writing a v2 construct under
``apiVersion: hpcpolicy/v1`` is almost always a file that was extended without its header being
changed; refusing it (rather than silently accepting it) keeps ``apiVersion`` true to what the file needs
from the engine that reads it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel

from hpcpolicy.policy.errors import Path, PolicyIssue

V1 = "hpcpolicy/v1"


def since(model: type[BaseModel], field: str) -> str | None:
    """The apiVersion that introduced ``model.field`` (None: every version has it)."""
    extra = model.model_fields[field].json_schema_extra
    value = extra.get("since") if isinstance(extra, dict) else None
    return value if isinstance(value, str) else None


def newer_fields(model: BaseModel, path: Path = ()) -> Iterator[tuple[Path, str]]:
    """``(path, version)`` of every field set in ``model`` (recursively) that a v1 file may not set."""
    for name in model.model_fields_set:
        version = since(type(model), name)
        if version is not None:
            yield (*path, name), version
            continue
        yield from _inside(getattr(model, name), (*path, name))


def _inside(value: Any, path: Path) -> Iterator[tuple[Path, str]]:
    if isinstance(value, BaseModel):
        yield from newer_fields(value, path)
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _inside(item, (*path, key))
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            yield from _inside(item, (*path, i))


def version_issues(policy: BaseModel) -> list[PolicyIssue]:
    """Errors for v2 constructs in a v1 file (none for a v2 file)."""
    if getattr(policy, "apiVersion", None) != V1:
        return []
    return [
        PolicyIssue(path, f"is part of {version}: write `apiVersion: {version}` (`hpcpolicy policy migrate` does)")
        for path, version in newer_fields(policy)
    ]
