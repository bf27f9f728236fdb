"""What a quota counts, as both ledgers read it: the entries of one scope, in a slice, and its adjustments.

A scope is ``user:<u>``, ``project:<p>``, ``team:<t>``, ``org:<o>`` or a project member
``project:<p>/user:<u>``; each names the lien and charge columns that must match. A quota with a slice
counts only the entries inside it (cluster, partition, GPU type: :class:`~hpcpolicy.engine.slices.Slice`).
Adjustments are made on a scope or on one quota id: an adjustment on the scope counts for the scope's
unsliced quotas (as in v1), one on a quota id for that quota alone.

Ledger sessions take a *target*: a scope string (everything of the scope, its scope adjustments) or a
:class:`~hpcpolicy.engine.QuotaRef` (what that quota counts).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Protocol

from hpcpolicy.engine.quotaref import QuotaRef
from hpcpolicy.engine.slices import Slice, member_scope

Target = str | QuotaRef

#: Scope kinds and the lien/charge attribute holding that scope's name.
SCOPE_FIELDS = {"user": "user_id", "project": "project", "team": "team", "org": "org"}
_MEMBER = "/user:"
#: Scopes narrowed to one user's entries: a project member (``project:p/user:u``), a user's runs of a
#: service (``service:s/user:u``). Service scopes count liens only (policy ``services``).
_NARROWED = {"project": "project", "service": "service"}


class OnPath(Protocol):
    """Anything dated to an account path: liens and charges."""

    @property
    def user_id(self) -> str: ...
    @property
    def project(self) -> str | None: ...
    @property
    def team(self) -> str | None: ...
    @property
    def org(self) -> str | None: ...


class InSlice(OnPath, Protocol):
    @property
    def cluster(self) -> str | None: ...
    @property
    def partition(self) -> str | None: ...
    @property
    def gpu_type(self) -> str | None: ...


@lru_cache(maxsize=65536)
def scope_columns(scope: str) -> tuple[tuple[str, str], ...]:
    """``"project:wgs"`` → ``(("project", "wgs"),)``; a member scope gives two columns. ValueError for an
    unknown kind (memoised: the same few thousand scopes are asked about again and again)."""
    kind, sep, name = scope.partition(":")
    if kind in _NARROWED and _MEMBER in name:
        base, _, user = name.partition(_MEMBER)
        if base and user:
            return ((_NARROWED[kind], base), ("user_id", user))
    if kind == "service" and name:
        return (("service", name),)
    if not sep or kind not in SCOPE_FIELDS or not name:
        raise ValueError(
            f"scope must be user:<name>, project:<name>, team:<name>, org:<name> or "
            f"project:<name>/user:<name>, got {scope!r}"
        )
    return ((SCOPE_FIELDS[kind], name),)


@dataclass(frozen=True, slots=True)
class Counter:
    """One target resolved: the scope's columns, the slice, the adjustment scopes that count, its key."""

    scope: str
    columns: tuple[tuple[str, str], ...]
    slice: Slice | None
    adjusted: tuple[str, ...]
    key: str


def counter(target: Target) -> Counter:
    if isinstance(target, str):
        return Counter(target, scope_columns(target), None, (target,), target)
    scope, sliced = target.scope, target.slice
    adjusted = (target.id,) if sliced is not None else tuple(dict.fromkeys((scope, target.id)))
    return Counter(scope, scope_columns(scope), sliced, adjusted, target.counter)


def entry_scopes(entry: OnPath) -> list[str]:
    """The scopes a lien or charge draws on, most specific first (its member scope after its user's), and
    a lien's service: the user's runs of it and all its runs (policy ``services``)."""
    scopes = [f"user:{entry.user_id}"]
    if entry.project:
        scopes.append(member_scope(entry.project, entry.user_id))
    for kind, name in (("project", entry.project), ("team", entry.team), ("org", entry.org)):
        if name:
            scopes.append(f"{kind}:{name}")
    service = getattr(entry, "service", None)  # liens only: a charge is the account's, not the service's
    if service:
        scopes += [f"service:{service}{_MEMBER}{entry.user_id}", f"service:{service}"]
    return scopes


def counts_toward(entry: InSlice, slice_: Slice | None) -> bool:
    """Whether a lien or charge of a counter's scope lies in its slice (always, without one)."""
    return slice_ is None or slice_.admits(entry.cluster, entry.partition, entry.gpu_type)
