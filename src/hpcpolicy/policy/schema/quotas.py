"""Budgets and concurrency limits on a scope of the account tree."""

from __future__ import annotations

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
