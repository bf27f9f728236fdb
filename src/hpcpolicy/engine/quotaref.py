"""A quota as the engine reads it: attached to a scope, with what the hot loop needs precomputed."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from hpcpolicy.engine.slices import Slice
from hpcpolicy.engine.windows import INSTANT, MONTHS, as_utc, calendar_period, describe
from hpcpolicy.policy.schema import FixedWindow, Policy, Quota, RollingWindow

#: Metered quota metrics, in the order of :class:`~hpcpolicy.engine.usage.Amounts` fields.
METERED = ("cpu_hours", "gpu_hours", "cost")


@dataclass(frozen=True, slots=True)
class QuotaRef:
    """A quota attached to a scope. ``id`` keys the usage snapshot (``scope`` or ``scope#name``).

    Derived at construction so the hot loop does no lookups: ``metered`` lists (index into
    :data:`METERED`, limit) for the metrics this quota bounds; ``fixed`` holds a fixed allocation's UTC
    bounds; ``concurrent`` says whether it limits jobs or GPUs; ``rolling`` (a rolling window's span)
    and ``months`` (a calendar period's length, else 0) let :meth:`bounds` skip the window's dispatch;
    ``window_label`` is the window as messages name it (:func:`~hpcpolicy.engine.windows.describe`).

    ``slice``: the part of the machine the quota binds and counts (None: all of it). ``counter`` names what
    the quota counts, the key of its concurrency in the usage snapshot: the scope itself, or for a sliced
    quota ``scope[slice]`` (two quotas of a scope on the same slice count the same liens).
    """

    id: str
    scope: str
    quota: Quota
    slice: Slice | None = None
    counter: str = field(init=False)
    metered: tuple[tuple[int, float], ...] = field(init=False)
    fixed: tuple[datetime, datetime] | None = field(init=False)
    concurrent: bool = field(init=False)
    rolling: timedelta | None = field(init=False)
    months: int = field(init=False)
    window_label: str = field(init=False)

    def __post_init__(self) -> None:
        q, window = self.quota, self.quota.window
        object.__setattr__(self, "counter", self.scope if self.slice is None else f"{self.scope}[{self.slice.key}]")
        metered = tuple((i, limit) for i, name in enumerate(METERED) if (limit := getattr(q, name)) is not None)
        object.__setattr__(self, "metered", metered)
        fixed = (as_utc(window.start), as_utc(window.end)) if isinstance(window, FixedWindow) else None
        object.__setattr__(self, "fixed", fixed)
        object.__setattr__(self, "concurrent", q.max_jobs is not None or q.max_gpus is not None)
        rolling = timedelta(days=window.rolling_days) if isinstance(window, RollingWindow) else None
        object.__setattr__(self, "rolling", rolling)
        object.__setattr__(self, "months", 0 if isinstance(window, RollingWindow | FixedWindow) else MONTHS[window])
        object.__setattr__(self, "window_label", describe(window))

    def bounds(self, now: datetime) -> tuple[datetime, datetime]:
        """``window_bounds(self.quota.window, now)``: the ``[start, end)`` of this quota's current window."""
        if now.tzinfo is not UTC:
            now = as_utc(now)
        if self.rolling is not None:
            return now - self.rolling, now + INSTANT
        if self.fixed is not None:
            return self.fixed
        return calendar_period(self.months, now.year, now.month)


def quota_refs(scope: str, quotas: list[Quota] | tuple[Quota, ...]) -> tuple[QuotaRef, ...]:
    """The refs of a scope's quotas: id ``scope`` for a lone unnamed quota, else ``scope#name``."""
    if len(quotas) == 1 and quotas[0].name is None:
        return (QuotaRef(scope, scope, quotas[0], Slice.of(quotas[0].slice)),)
    return tuple(QuotaRef(f"{scope}#{q.name}" if q.name else scope, scope, q, Slice.of(q.slice)) for q in quotas)


def member_tables(policy: Policy) -> tuple[dict[tuple[str, str | None], tuple[Quota, ...]], bool]:
    """(project, user) → a member's own quotas, (project, None) → the project's ``member_quotas``; and
    whether any partition has a per-user quota (which makes the quotas on a path depend on the route)."""
    tables: dict[tuple[str, str | None], tuple[Quota, ...]] = {}
    for org in policy.orgs.values():
        for team in org.teams.values():
            for name, project in team.projects.items():
                if project.member_quotas:
                    tables[(name, None)] = tuple(project.member_quotas)
                for user, member in project.members.items():
                    tables[(name, user)] = tuple(member.quotas)
    per_user = any(p.per_user is not None for c in policy.clusters.values() for p in c.partitions.values())
    return tables, per_user
