"""Clusters and their partitions: hardware, per-job caps, access, billing rates."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import Field

from hpcpolicy.policy.schema.access import Access
from hpcpolicy.policy.schema.common import Model, Name, NonNeg, NonNegInt, PosInt, Rate


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
    """Per-job caps. An absent cap means "up to what the partition's hardware holds"."""

    max_cpus: NonNegInt | None = None
    max_gpus: NonNegInt | None = None
    max_memory_gb: NonNeg | None = None
    max_nodes: NonNegInt | None = None
    max_walltime_hours: NonNeg | None = None
    default_walltime_hours: Annotated[float, Field(gt=0)] | None = None
    gpu_types: list[Name] | None = None


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
