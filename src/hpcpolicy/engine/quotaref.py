"""A quota as the engine reads it: attached to a scope, with what the hot loop needs precomputed."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from hpcpolicy.engine.slices import Slice
from hpcpolicy.engine.softlimits import INF, Share, SoftLimits, soft_limits, triple
from hpcpolicy.engine.windows import INSTANT, as_utc, calendar_period, calendar_shape, describe, period_bounds
from hpcpolicy.policy.schema import FixedWindow, Policy, Quota, RollingWindow
from hpcpolicy.policy.schema.accounts import Share as SharesSpec

#: Metered quota metrics, in the order of :class:`~hpcpolicy.engine.usage.Amounts` fields.
METERED = ("cpu_hours", "gpu_hours", "cost")


@dataclass(frozen=True, slots=True)
class QuotaRef:
    """A quota attached to a scope. ``id`` keys the usage snapshot (``scope`` or ``scope#name``).

    Derived at construction so the hot loop does no lookups: ``metered`` lists (index into
    :data:`METERED`, limit) for the metrics this quota bounds; ``fixed`` holds a fixed allocation's UTC
    bounds; ``concurrent`` says whether it limits jobs or GPUs; ``rolling`` (a rolling window's span),
    ``months`` (a calendar period's length, else 0), ``first_month`` (the month periods start from),
    ``zone`` (a calendar window's zone, None for UTC) and ``utc_calendar`` (a calendar window in UTC) let
    :meth:`bounds` skip the window's dispatch; ``window_label`` is the window as messages name it
    (:func:`~hpcpolicy.engine.windows.describe`).

    ``slice``: the part of the machine the quota binds and counts (None: all of it). ``counter`` names what
    the quota counts, the key of its concurrency in the usage snapshot: the scope itself, or for a sliced
    quota ``scope[slice]`` (two quotas of a scope on the same slice count the same liens).
    """

    id: str
    scope: str
    quota: Quota
    slice: Slice | None = None
    shares: tuple[Share, ...] = ()
    counter: str = field(init=False)
    soft: SoftLimits | None = field(init=False)
    metered: tuple[tuple[int, float], ...] = field(init=False)
    fixed: tuple[datetime, datetime] | None = field(init=False)
    concurrent: bool = field(init=False)
    rolling: timedelta | None = field(init=False)
    months: int = field(init=False)
    first_month: int = field(init=False)
    zone: str | None = field(init=False)
    utc_calendar: bool = field(init=False)
    window_label: str = field(init=False)
    share_refs: tuple[QuotaRef, ...] = field(init=False, compare=False, repr=False)
    """One ref per child ``share``: the child's use in this quota's window and slice (id ``<id>@<child>``)."""

    def __post_init__(self) -> None:
        q, window = self.quota, self.quota.window
        object.__setattr__(self, "counter", self.scope if self.slice is None else f"{self.scope}[{self.slice.key}]")
        object.__setattr__(self, "soft", soft_limits(q, self.shares))
        metered = tuple((i, limit) for i, name in enumerate(METERED) if (limit := getattr(q, name)) is not None)
        object.__setattr__(self, "metered", metered)
        fixed = (as_utc(window.start), as_utc(window.end)) if isinstance(window, FixedWindow) else None
        object.__setattr__(self, "fixed", fixed)
        object.__setattr__(self, "concurrent", q.max_jobs is not None or q.max_gpus is not None)
        rolling = timedelta(days=window.rolling_days) if isinstance(window, RollingWindow) else None
        object.__setattr__(self, "rolling", rolling)
        months, first, zone = calendar_shape(window) or (0, 1, None)
        object.__setattr__(self, "months", months)
        object.__setattr__(self, "first_month", first)
        object.__setattr__(self, "zone", zone)
        object.__setattr__(self, "utc_calendar", bool(months) and zone is None)
        object.__setattr__(self, "window_label", describe(window))
        children: tuple[QuotaRef, ...] = ()
        if self.shares:  # a child's use is a plain sum: none of the parent's edges (no carry-over to read)
            plain = q.model_copy(update={"warn_at": [], "overdraft": None, "carry_over": None, "on_exhausted": None})
            children = tuple(QuotaRef(share.key, share.scope, plain, self.slice) for share in self.shares)
        object.__setattr__(self, "share_refs", children)  # built once: a decision on a child reads them all

    def bounds(self, now: datetime) -> tuple[datetime, datetime]:
        """``window_bounds(self.quota.window, now)``: the ``[start, end)`` of this quota's current window."""
        if now.tzinfo is not UTC:
            now = as_utc(now)
        if self.utc_calendar:  # the common case first: one memoised lookup, as in v1
            return calendar_period(self.months, now.year, now.month, self.first_month)
        if self.rolling is not None:
            return now - self.rolling, now + INSTANT
        if self.fixed is not None:
            return self.fixed
        return period_bounds(self.months, self.first_month, self.zone, now)

    def previous_bounds(self, now: datetime) -> tuple[datetime, datetime] | None:
        """The calendar window just before the current one (carry-over reads its usage); None for rolling
        windows and fixed allocations, which have no previous window."""
        if not self.months:
            return None
        start, _ = self.bounds(now)
        return self.bounds(start - INSTANT)


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


def with_shares(policy: Policy, quotas: dict[str, tuple[QuotaRef, ...]]) -> None:
    """Give each parent quota named by a child's ``share`` the children's guarantees (in place)."""
    parents: dict[str, list[tuple[str, SharesSpec]]] = {}
    for org_name, org in policy.orgs.items():
        for team_name, team in org.teams.items():
            if team.share is not None:
                parents.setdefault(f"org:{org_name}", []).append((f"team:{team_name}", team.share))
            for project_name, project in team.projects.items():
                if project.share is not None:
                    parents.setdefault(f"team:{team_name}", []).append((f"project:{project_name}", project.share))
    for parent, children in parents.items():
        refs = list(quotas[parent])
        for k, ref in enumerate(refs):
            mine = [(child, spec) for child, spec in children if _names(spec.quota, ref, len(refs))]
            if mine:
                shares = tuple(
                    Share(child, f"{ref.id}@{child}", triple(spec.guaranteed, 0.0),
                          triple(spec.borrow_limit, INF) if spec.borrow_limit is not None else None)
                    for child, spec in mine
                )  # fmt: skip
                refs[k] = QuotaRef(ref.id, ref.scope, ref.quota, ref.slice, shares)
        quotas[parent] = tuple(refs)


def _names(wanted: str | None, ref: QuotaRef, count: int) -> bool:
    return ref.quota.name == wanted if wanted is not None else count == 1
