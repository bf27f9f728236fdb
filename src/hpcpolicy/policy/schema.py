"""The policy file format (``apiVersion: hpcpolicy/v1``) as Pydantic models.

These models are the single definition of what a policy file may say. Shape and value checks live here
(types, ranges, unknown keys); cross-references (a user's project exists, a partition's default walltime
fits its cap) live in :mod:`hpcpolicy.policy.lint`, so that both kinds of error come back together, each
with its path. Every model is frozen: a loaded policy is a value, shared safely by concurrent requests.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, model_validator

API_VERSION = "hpcpolicy/v1"

#: Finite and far above any real budget, so that sums of limits, charges and estimates stay finite.
NonNeg = Annotated[float, Field(ge=0, le=1e15)]
#: A rate must be finite: 0 hours × .inf is NaN, and a NaN cost passes every cost quota and guard. Bounded
#: so that the largest job (engine.limits) times the highest rate is still a finite cost.
Rate = Annotated[float, Field(ge=0, le=1e6, allow_inf_nan=False)]
NonNegInt = Annotated[int, Field(ge=0)]
PosInt = Annotated[int, Field(gt=0)]
Name = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.@-]*$")]


class Model(BaseModel):
    """Base: unknown keys are errors (a typo must not silently disable a limit), values are immutable,
    numbers are finite (``.inf`` is not "unlimited": leave the limit out; a NaN passes every comparison)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class Scheduler(StrEnum):
    slurm = "slurm"
    kubernetes = "kubernetes"
    tes = "tes"
    aws_batch = "aws-batch"
    local = "local"


class Period(StrEnum):
    """Calendar periods; a window of this kind starts at the period's first instant, in UTC."""

    monthly = "monthly"
    quarterly = "quarterly"
    yearly = "yearly"


class RollingWindow(Model):
    """The last ``rolling_days`` days up to the moment of the decision."""

    rolling_days: PosInt


class FixedWindow(Model):
    """A one-off allocation valid from ``start`` (inclusive) to ``end`` (exclusive)."""

    start: datetime
    end: datetime

    @model_validator(mode="after")
    def _ordered(self) -> FixedWindow:
        # naive dates are UTC (as the engine reads them); comparing naive with aware would raise TypeError
        start, end = (d.replace(tzinfo=UTC) if d.tzinfo is None else d for d in (self.start, self.end))
        if end <= start:
            raise ValueError("end must be after start")
        return self


def _window_kind(value: object) -> str | None:
    if isinstance(value, Period | str):
        return "period"
    if isinstance(value, RollingWindow | FixedWindow):
        return "rolling" if isinstance(value, RollingWindow) else "fixed"
    if isinstance(value, dict):
        if "rolling_days" in value:
            return "rolling"
        if "start" in value or "end" in value:
            return "fixed"
    return None


#: Labels Pydantic puts in error locations for the window union; not keys of the file.
WINDOW_TAGS = frozenset({"period", "rolling", "fixed"})

#: monthly | quarterly | yearly | {rolling_days: N} | {start: DATE, end: DATE}
Window = Annotated[
    Annotated[Period, Tag("period")] | Annotated[RollingWindow, Tag("rolling")] | Annotated[FixedWindow, Tag("fixed")],
    Discriminator(
        _window_kind,
        custom_error_type="window",
        custom_error_message="must be monthly, quarterly, yearly, {rolling_days: N} or {start: DATE, end: DATE}",
    ),
]


class Quota(Model):
    """Budgets and concurrency limits for one scope. An absent metric is unlimited.

    Hour and cost budgets count inside ``window``; concurrency limits (``max_jobs``, ``max_gpus``) count
    jobs holding a reservation or running right now, whatever the window.
    """

    name: Name | None = None
    window: Window = Period.monthly
    cpu_hours: NonNeg | None = None
    gpu_hours: NonNeg | None = None
    cost: NonNeg | None = None
    max_jobs: NonNegInt | None = None
    max_gpus: NonNegInt | None = None


class NodeShape(Model):
    """The hardware of one node in a partition; all nodes of a partition are alike."""

    count: PosInt
    cpus: PosInt
    memory_gb: Annotated[float, Field(gt=0)]
    gpus: NonNegInt = 0
    gpu_type: Name | None = None


class JobLimits(Model):
    """Per-job caps. An absent cap means "up to what the partition's hardware holds"."""

    max_cpus: NonNegInt | None = None
    max_gpus: NonNegInt | None = None
    max_memory_gb: NonNeg | None = None
    max_nodes: NonNegInt | None = None
    max_walltime_hours: NonNeg | None = None
    default_walltime_hours: Annotated[float, Field(gt=0)] | None = None
    gpu_types: list[Name] | None = None


class Access(Model):
    """Who may use a partition. Deny lists win over allow lists; empty allow lists allow everyone."""

    roles: list[Name] = []
    deny_roles: list[Name] = []
    projects: list[Name] = []
    deny_projects: list[Name] = []


class Rates(Model):
    """Billing units charged per resource-hour. GPU rates are per GPU type, with ``default`` as fallback."""

    cpu_hour: Rate = 0.0
    gpu_hour: dict[Name, Rate] = {}
    memory_gb_hour: Rate = 0.0


class Partition(Model):
    nodes: NodeShape
    limits: JobLimits = JobLimits()
    access: Access = Access()
    rates: Rates = Rates()
    fail_open: bool = False
    """When the ledger cannot be reached, admit jobs that pass every rule that needs no usage (roles,
    access, caps, quotas against zero usage) instead of refusing them all. Nothing is reserved or recorded
    for such a job, so budgets are not enforced while the ledger is down: a site's explicit choice."""


class Cluster(Model):
    scheduler: Scheduler
    partitions: dict[Name, Partition] = Field(min_length=1)


class Project(Model):
    quotas: list[Quota] = []
    description: str | None = None


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


class Group(Model):
    """A Unix or directory group; its members get ``roles`` (used by scheduler adapters)."""

    roles: list[Name] = []


class GpuGuard(Model):
    """GPU jobs require ``role``."""

    role: Name = "gpu_user"


class ExpensiveJobGuard(Model):
    """A job whose estimated cost is above ``cost_threshold`` requires ``role``."""

    cost_threshold: NonNeg
    role: Name


class Guards(Model):
    gpu: GpuGuard | None = GpuGuard()
    expensive_job: ExpensiveJobGuard | None = None


class Defaults(Model):
    """What applies to users the policy does not list.

    ``user_quota`` is overridable by the environment (``DEFAULT_CPU_HOURS``, ``DEFAULT_GPU_HOURS``,
    ``MAX_CONCURRENT_JOBS``); ``walltime_hours`` is assumed when a request gives neither a walltime nor
    hours and its partition sets no default.
    """

    user_quota: Quota = Quota(cpu_hours=120, gpu_hours=24, max_jobs=5)
    walltime_hours: Annotated[float, Field(gt=0)] = 1.0


class Metadata(Model):
    name: Name = "policy"
    description: str | None = None


class Policy(Model):
    """A whole policy file."""

    apiVersion: Literal["hpcpolicy/v1"]
    kind: Literal["Policy"] = "Policy"
    metadata: Metadata = Metadata()
    defaults: Defaults = Defaults()
    guards: Guards = Guards()
    clusters: dict[Name, Cluster] = Field(min_length=1)
    orgs: dict[Name, Org] = {}
    users: dict[Name, User] = {}
    groups: dict[Name, Group] = {}
