"""Who may use something (a partition; in v2 also a QOS, or who a schedule exempts): an access block."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from hpcpolicy.policy.schema.common import V2, Model, Name

#: ``any_of`` and ``all_of`` hold at least one alternative: an empty ``any_of`` would admit nobody and an
#: empty ``all_of`` everybody, neither of which anyone means by writing the key. Absent is None (not
#: ``[]``), so that a dumped policy validates again.
Alternatives = Annotated[list["Access"] | None, Field(min_length=1, json_schema_extra=V2)]


class Access(Model):
    """Matches when no deny list matches and every clause present matches; an empty block matches everyone.

    ``roles``: the caller holds one of them. ``projects``: the job charges one of them (v1: ``roles`` and
    ``projects`` together mean both). ``any_of`` / ``all_of`` (v2): alternatives that are access blocks
    themselves, so "role himem OR project denovo-asm" can be said. Deny lists belong at the top only (a
    deny inside an alternative would read as "unless", which nobody could follow); ``policy check`` says so.
    """

    roles: list[Name] = []
    deny_roles: list[Name] = []
    projects: list[Name] = []
    deny_projects: list[Name] = []
    any_of: Alternatives = None
    all_of: Alternatives = None

    @property
    def denies(self) -> bool:
        """Whether the block has a deny list (allowed only at the top of an access block)."""
        return bool(self.deny_roles or self.deny_projects)
