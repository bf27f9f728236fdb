"""Request and response bodies of the API (the engine's own models are reused where they fit).

Every input field is bounded by the types of :mod:`hpcpolicy.engine.limits` (finite numbers, identifiers
the ledger can store), so hostile values are 422s naming the field before any service code runs.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import Path
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from hpcpolicy.engine.forecast import Forecast
from hpcpolicy.engine.limits import (
    MAX_CPUS,
    MAX_ID_LENGTH,
    MAX_WALLTIME_HOURS,
    Amount,
    Gpus,
    Hours,
    Ident,
    MemoryGb,
    Moment,
    Scope,
    Text,
    check_ident,
)
from hpcpolicy.engine.request import MAX_GROUPS, MAX_ROLES, Request
from hpcpolicy.ledger import AdjustmentKind, ScopeBalance

#: Elapsed time a usage report may state; the ledger bounds it further by the job's own walltime.
Elapsed = Annotated[float, Field(ge=0, le=MAX_WALLTIME_HOURS, allow_inf_nan=False)]
ElapsedSeconds = Annotated[float, Field(ge=0, le=MAX_WALLTIME_HOURS * 3600, allow_inf_nan=False)]
Roles = Annotated[tuple[Ident, ...], Field(max_length=MAX_ROLES)]
Groups = Annotated[tuple[Ident, ...], Field(max_length=MAX_GROUPS)]
#: A decision, lien or job id in a URL path: what the ledger could hold, checked before any query runs.
IdentPath = Annotated[str, Path(min_length=1, max_length=MAX_ID_LENGTH), AfterValidator(check_ident)]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class DecisionIn(Request):
    """A workload request plus what to do with the decision. ``user_id`` defaults to the caller's."""

    user_id: Ident | None = None  # type: ignore[assignment]
    reserve: bool = False
    dry_run: bool = False
    idempotency_key: Ident | None = None
    job_id: Ident | None = None
    """The scheduler's job id, known at admission: a usage fact, so only usage reporters may give it."""
    queue: bool = False
    """Wait instead of being denied when only concurrency caps refuse the request (202, ``status: queued``);
    implies ``reserve``. Follow it with ``GET /v1/decisions/{id}?wait=30``, its event stream, or a callback."""
    queue_ttl_seconds: Annotated[int, Field(ge=1, le=365 * 86400)] | None = None
    """How long to wait at most (the server's ``HPCPOLICY_QUEUE_TTL_SECONDS`` by default)."""
    callback_url: Annotated[str, Field(max_length=2048, pattern=r"^https?://[\x21-\x7e]+$")] | None = None
    """Where to POST the outcome of a held request (signed; under a prefix the server allows)."""

    def to_request(self, user_id: str, roles: tuple[str, ...], groups: tuple[str, ...] = ()) -> Request:
        """The engine's request for the identity the caller may claim (see ``Caller.identity_for``)."""
        exclude = {"reserve", "dry_run", "idempotency_key", "job_id", "user_id", "roles", "groups", "queue",
                   "queue_ttl_seconds", "callback_url"}  # fmt: skip
        return Request(user_id=user_id, roles=roles, groups=groups, **self.model_dump(exclude=exclude))


class QueueOut(BaseModel):
    """Where a held request stands: ``position`` among the requests held by the same limits (1: next);
    ``blocked_by`` the quota ids holding it; ``held_at``, ``expires_at``; ``resolved_at`` once resolved."""

    position: int | None = None
    priority: int | None = None
    blocked_by: list[str]
    held_at: datetime
    expires_at: datetime
    resolved_at: datetime | None = None


class DecisionOut(BaseModel):
    status: Literal["allowed", "denied", "queued"]
    """``queued`` (HTTP 202): the request waits in the admission queue; ``queue`` says where."""
    decision_id: str
    lien_id: str | None
    replayed: bool
    recorded: bool
    at: datetime
    allow: bool
    violations: list[dict[str, Any]]
    route: dict[str, str] | None
    estimate: dict[str, float]
    remaining: dict[str, dict[str, float]]
    policy_version: str
    project: str | None
    account_path: list[str]
    rejected_routes: list[dict[str, Any]]
    warnings: list[dict[str, Any]] = []
    """Non-blocking findings (budget thresholds, overdrafts, reroutes): same fields as violations."""
    degraded: str | None = None
    """Set when the ledger was unreachable and the partition fails open: usage was not checked."""
    queue: QueueOut | None = None


class DecisionRecordOut(BaseModel):
    status: Literal["allowed", "denied", "queued", "admitted", "cancelled", "expired"]
    """A decision made at once is ``allowed`` or ``denied``; a held request is ``queued`` until it is
    ``admitted`` (allowed after waiting), ``denied`` (a rule waiting cannot lift refused it), ``cancelled``
    or ``expired``."""
    decision_id: str
    at: datetime
    caller: str
    user_id: str
    allow: bool
    policy_version: str
    lien_id: str | None
    request: dict[str, Any]
    decision: dict[str, Any]
    queue: QueueOut | None = None


class StartIn(Body):
    job_id: Ident | None = None
    started_at: Moment | None = None


class UsageIn(Body):
    """Actual usage. Resources left out are taken as requested."""

    elapsed_hours: Elapsed | None = None
    elapsed_seconds: ElapsedSeconds | None = None
    cpus: Annotated[int, Field(ge=0, le=MAX_CPUS)] | None = None
    gpus: Gpus | None = None
    memory_gb: MemoryGb | None = None
    ended_at: Moment | None = None

    @property
    def reports_usage(self) -> bool:
        """Whether this body states any usage fact (a time or a resource), not merely "it ended"."""
        facts = (self.elapsed_hours, self.elapsed_seconds, self.cpus, self.gpus, self.memory_gb, self.ended_at)
        return any(v is not None for v in facts)

    def hours(self) -> float | None:
        if self.elapsed_hours is not None:
            return self.elapsed_hours
        return self.elapsed_seconds / 3600 if self.elapsed_seconds is not None else None


class CancelIn(UsageIn):
    outcome: Literal["cancelled", "failed"] = "cancelled"


class JobOut(BaseModel):
    lien_id: str
    job_id: str | None
    state: str
    user_id: str
    project: str | None
    cluster: str
    partition: str
    reserved: dict[str, float]
    charged: dict[str, float] | None = None
    started_at: datetime | None
    ended_at: datetime | None
    expires_at: datetime


class ForecastOut(BaseModel):
    """Where the recent burn takes a budget (docs/dashboard.md#forecasts): ``rate_per_day`` weights recent
    days more (3-day half-life, today left out); ``days_to_dry`` and ``runs_dry_at`` are null when it never
    runs dry at that rate (or not within a century); ``balance_at_end`` is what the window ends with
    (negative: overrun by that much)."""

    rate_per_day: float
    days_to_dry: float | None
    runs_dry_at: datetime | None
    balance_at_end: float
    dry_before_end: bool

    @classmethod
    def of(cls, f: Forecast | None) -> ForecastOut | None:
        if f is None:
            return None
        days = f.days_to_dry if math.isfinite(f.days_to_dry) and f.runs_dry_at is not None else None
        return cls(rate_per_day=f.rate_per_day, days_to_dry=days, runs_dry_at=f.runs_dry_at,
                   balance_at_end=f.balance_at_end, dry_before_end=f.dry_before_end)  # fmt: skip


class BalanceOut(BaseModel):
    quota_id: str
    metric: str
    limit: float | None
    charged: float
    reserved: float
    available: float | None
    window: str
    window_start: datetime
    window_end: datetime
    forecast: ForecastOut | None = None
    """Metered metrics with a limit: the burn rate and when the budget runs dry."""

    @classmethod
    def of(cls, b: ScopeBalance) -> BalanceOut:
        return cls(quota_id=b.quota_id, metric=b.metric, limit=b.limit, charged=b.charged, reserved=b.reserved,
                   available=b.available, window=b.window, window_start=b.window_start, window_end=b.window_end,
                   forecast=ForecastOut.of(b.forecast))  # fmt: skip


class UsageOut(BaseModel):
    scope: str
    at: datetime
    balances: list[BalanceOut]


class EventsOut(BaseModel):
    """Audit events as CloudEvents 1.0 (structured JSON), oldest first; ``after`` reads the next page."""

    events: list[dict[str, Any]]
    after: int


class FairShareRowOut(BaseModel):
    """One association as ``sshare`` shows it. ``level_fs`` is null for an association with no usage
    (infinitely under its share: it goes first); ``factor`` is set for users only."""

    scope: str
    depth: int
    raw_shares: float
    norm_shares: float
    raw_usage: float
    norm_usage: float
    level_fs: float | None
    factor: float | None


class FairShareOut(BaseModel):
    at: datetime
    rows: list[FairShareRowOut]


class AdjustmentIn(Body):
    scope: Scope
    kind: AdjustmentKind
    cpu_hours: Amount = 0.0
    gpu_hours: Amount = 0.0
    cost: Amount = 0.0
    reason: Text
    idempotency_key: Ident | None = None


class AdjustmentOut(BaseModel):
    id: str
    scope: str
    kind: str
    cpu_hours: float
    gpu_hours: float
    cost: float
    reason: str
    author: str
    at: datetime


class PolicyOut(BaseModel):
    version: str
    source: str
    warnings: list[dict[str, Any]]
    policy: str


class QuotaCheckIn(Body):
    """The original service's ``POST /quota/check`` body."""

    user_id: Ident | None = None
    cpu_hours: Hours = 0.0
    gpu_hours: Hours = 0.0
    gpus: Gpus = 0
    roles: Roles = ()
    groups: Groups = ()
    partition: Ident | None = None


class QuotaCheckOut(BaseModel):
    allow: bool
    reason: str
    remaining_cpu_hours: float | None
    remaining_gpu_hours: float | None


class JobEvaluateIn(Body):
    """The original service's ``POST /jobs/evaluate`` body."""

    user_id: Ident | None = None
    partition: Ident | None = None
    gpus: Gpus = 0
    memory_gb: MemoryGb = 0.0
    roles: Roles = ()
    groups: Groups = ()


class JobEvaluateOut(BaseModel):
    allow: bool
    reason: str
    partition: str | None
