"""Clusters and their partitions: hardware, per-job caps, access, billing rates."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field

from hpcpolicy.policy.schema.access import Access
from hpcpolicy.policy.schema.common import V2, Model, Name, NonNeg, NonNegInt, PosInt, Rate
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


class Partition(Model):
    nodes: NodeShape
    limits: JobLimits = JobLimits()
    access: Access = Access()
    rates: Rates = Rates()
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
