"""Request and response bodies of the API (the engine's own models are reused where they fit)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from hpcpolicy.engine.request import Ident, Request
from hpcpolicy.ledger import AdjustmentKind

Hours = Annotated[float, Field(ge=0)]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DecisionIn(Request):
    """A workload request plus what to do with the decision. ``user_id`` defaults to the caller's."""

    user_id: Ident | None = None  # type: ignore[assignment]
    reserve: bool = False
    dry_run: bool = False
    idempotency_key: Annotated[str, Field(min_length=1, max_length=191)] | None = None
    job_id: Annotated[str, Field(min_length=1, max_length=191)] | None = None

    def to_request(self, user_id: str, roles: tuple[str, ...]) -> Request:
        fields = self.model_dump(exclude={"reserve", "dry_run", "idempotency_key", "job_id", "user_id", "roles"})
        return Request(user_id=user_id, roles=roles, **fields)


class DecisionOut(BaseModel):
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
    degraded: str | None = None
    """Set when the ledger was unreachable and the partition fails open: usage was not checked."""


class DecisionRecordOut(BaseModel):
    decision_id: str
    at: datetime
    caller: str
    user_id: str
    allow: bool
    policy_version: str
    lien_id: str | None
    request: dict[str, Any]
    decision: dict[str, Any]


class StartIn(Body):
    job_id: Annotated[str, Field(min_length=1, max_length=191)] | None = None
    started_at: datetime | None = None


class UsageIn(Body):
    """Actual usage. Resources left out are taken as requested."""

    elapsed_hours: Hours | None = None
    elapsed_seconds: Annotated[float, Field(ge=0)] | None = None
    cpus: Annotated[int, Field(ge=0)] | None = None
    gpus: Annotated[int, Field(ge=0)] | None = None
    memory_gb: Hours | None = None
    ended_at: datetime | None = None

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


class UsageOut(BaseModel):
    scope: str
    at: datetime
    balances: list[BalanceOut]


class AdjustmentIn(Body):
    scope: Annotated[str, Field(min_length=3, max_length=191)]
    kind: AdjustmentKind
    cpu_hours: Hours = 0.0
    gpu_hours: Hours = 0.0
    cost: Hours = 0.0
    reason: Annotated[str, Field(min_length=1, max_length=2000)]
    idempotency_key: Annotated[str, Field(min_length=1, max_length=191)] | None = None


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
    gpus: Annotated[int, Field(ge=0)] = 0
    roles: tuple[Ident, ...] = ()
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
    gpus: Annotated[int, Field(ge=0)] = 0
    memory_gb: Hours = 0.0
    roles: tuple[Ident, ...] = ()


class JobEvaluateOut(BaseModel):
    allow: bool
    reason: str
    partition: str | None
