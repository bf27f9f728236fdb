"""Budgets and concurrency limits on a scope of the account tree."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, model_validator

from hpcpolicy.policy.schema.common import V2, Model, Name, NonNeg, NonNegInt
from hpcpolicy.policy.schema.windows import Period, Window


class Slice(Model):
    """The part of the machine a quota applies to and counts: some clusters, partitions or GPU types.

    Like a Slurm QOS limit or a Kueue flavor: 2,000 DGX GPU-hours a month inside a project's total, 8 A100s
    per team at once. A job outside the slice is not bound by the quota, and the quota counts only the
    liens and charges inside it. Every list given must contain the job's value.
    """

    clusters: list[Name] | None = None
    partitions: list[Name] | None = None
    gpu_types: list[Name] | None = None

    @model_validator(mode="after")
    def _not_everything(self) -> Slice:
        if not (self.clusters or self.partitions or self.gpu_types):
            raise ValueError("a slice names clusters, partitions or gpu_types (leave it out to count everything)")
        return self


Fraction = Annotated[float, Field(gt=0, le=1, allow_inf_nan=False)]


class Metrics(Model):
    """An amount per metered metric (each optional)."""

    cpu_hours: NonNeg | None = None
    gpu_hours: NonNeg | None = None
    cost: NonNeg | None = None


class CarryOver(Model):
    """Part of last window's unused budget that the current window adds to its limit (calendar windows)."""

    fraction: Fraction
    max: Metrics | None = None


class OnExhausted(Model):
    """Where a job goes when this quota alone refuses it: a named partition of the same cluster (a
    low-priority "overrun" queue, as NERSC runs), or a QOS."""

    partition: Name | None = None
    qos: Name | None = None

    @model_validator(mode="after")
    def _one(self) -> OnExhausted:
        if (self.partition is None) == (self.qos is None):
            raise ValueError("name either a partition or a qos to send the job to")
        return self


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
    slice: Slice | None = Field(default=None, json_schema_extra=V2)
    warn_at: list[Fraction] = Field(default=[], json_schema_extra=V2)
    """Fractions of a limit past which an allowed job carries a warning (``quota.warn_threshold``)."""
    overdraft: Metrics | None = Field(default=None, json_schema_extra=V2)
    """How far past its limit a job may take a metric, with a warning (``quota.overdraft``)."""
    carry_over: CarryOver | None = Field(default=None, json_schema_extra=V2)
    on_exhausted: OnExhausted | None = Field(default=None, json_schema_extra=V2)
