"""Clusters and their partitions: hardware, per-job caps, access, billing rates."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field

from hpcpolicy.policy.schema.access import Access
from hpcpolicy.policy.schema.common import V2, Model, Name, NonNeg, NonNegInt, PosInt, Rate
from hpcpolicy.policy.schema.quotas import Quota
from hpcpolicy.policy.schema.schedule import Schedule


class Scheduler(StrEnum):
    slurm = "slurm"
    kubernetes = "kubernetes"
    tes = "tes"
    aws_batch = "aws-batch"
    local = "local"


class NodeShape(Model):
    """The hardware of one node in a partition; all nodes of a partition are alike."""

    count: PosInt
    cpus: PosInt
    memory_gb: Annotated[float, Field(gt=0)]
    gpus: NonNegInt = 0
    gpu_type: Name | None = None


class JobLimits(Model):
    """Per-job caps. An absent cap means "up to what the partition's hardware holds".

    Minimums (v2) keep jobs off hardware they would waste: a GPU partition that requires GPUs, a
    high-memory partition only for jobs that need its memory. They are job totals, like the caps.
    """

    max_cpus: NonNegInt | None = None
    max_gpus: NonNegInt | None = None
    max_memory_gb: NonNeg | None = None
    max_nodes: NonNegInt | None = None
    max_walltime_hours: NonNeg | None = None
    default_walltime_hours: Annotated[float, Field(gt=0)] | None = None
    gpu_types: list[Name] | None = None
    min_cpus: NonNegInt | None = Field(default=None, json_schema_extra=V2)
    min_gpus: NonNegInt | None = Field(default=None, json_schema_extra=V2)
    min_memory_gb: NonNeg | None = Field(default=None, json_schema_extra=V2)
    min_nodes: NonNegInt | None = Field(default=None, json_schema_extra=V2)


class Rates(Model):
    """Billing units charged per resource-hour. GPU rates are per GPU type, with ``default`` as fallback."""

    cpu_hour: Rate = 0.0
    gpu_hour: dict[Name, Rate] = {}
    memory_gb_hour: Rate = 0.0


Weight = Annotated[float, Field(ge=0, le=1000, allow_inf_nan=False)]


class HourWeights(Model):
    """How an hour on this partition counts against hour budgets (Slurm's TRESBillingWeights).

    ``cpu`` multiplies CPU-hours; ``gpu`` multiplies GPU-hours, one factor or one per GPU type (``default``
    for the rest). A scavenger partition at 0 counts nothing; an H100 hour may count as 2 A100 hours.
    Cost is priced from the raw hours with the rates, whatever the weights.
    """

    cpu: Weight = 1.0
    gpu: Weight | dict[Name, Weight] = 1.0


class Partition(Model):
    nodes: NodeShape
    limits: JobLimits = JobLimits()
    access: Access = Access()
    rates: Rates = Rates()
    hour_weights: HourWeights | None = Field(default=None, json_schema_extra=V2)
    per_user: Quota | None = Field(default=None, json_schema_extra=V2)
    """A quota every user has on this partition alone (Slurm's per-user QOS limits: at most 2 DGX jobs
    each), counted on the user's scope in this partition's slice, id ``user:<u>#per_user:<partition>``."""
    fail_open: bool = False
    """When the ledger cannot be reached, admit jobs that pass every rule that needs no usage (roles,
    access, caps, quotas against zero usage) instead of refusing them all. Nothing is reserved or recorded
    for such a job, so budgets are not enforced while the ledger is down: a site's explicit choice."""
    exclusive: bool = Field(default=False, json_schema_extra=V2)
    """Jobs get whole nodes: a job holds, and is billed for, its nodes × each node's CPUs, GPUs and memory."""
    routing: Literal["auto", "explicit"] = Field(default="auto", json_schema_extra=V2)
    """``explicit``: routing never picks this partition; only a request that names it runs here."""
    schedule: Schedule | None = Field(default=None, json_schema_extra=V2)
    """When the partition takes jobs (default: always)."""


class Qos(Model):
    """A quality of service a request may name: other limits on the partitions that allow it, for some callers.

    Fields set in ``limits`` replace the partition's fields of the same name (a ``long`` QOS with a
    336-hour walltime on a partition capped at 168); ``partitions`` lists where it may be used (default:
    every partition of the cluster); ``access`` who may use it.
    """

    access: Access = Access()
    limits: JobLimits = JobLimits()
    partitions: list[Name] | None = None


class Cluster(Model):
    scheduler: Scheduler
    partitions: dict[Name, Partition] = Field(min_length=1)
    qos: dict[Name, Qos] = Field(default={}, json_schema_extra=V2)
