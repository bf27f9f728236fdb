"""The whole policy file: guards, defaults, metadata, and the top level that holds the rest."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from hpcpolicy.policy.schema.accounts import Group, Org, User
from hpcpolicy.policy.schema.alerts import Alerts
from hpcpolicy.policy.schema.common import V2, Model, Name, NonNeg
from hpcpolicy.policy.schema.fairshare import FairShare
from hpcpolicy.policy.schema.partitions import Cluster
from hpcpolicy.policy.schema.quotas import Quota
from hpcpolicy.policy.schema.services import Service
from hpcpolicy.policy.schema.windows import TimeZone

API_VERSION = "hpcpolicy/v2"
API_VERSIONS = ("hpcpolicy/v1", "hpcpolicy/v2")


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
    timezone: TimeZone | None = Field(None, json_schema_extra=V2)  # calendar windows that name no zone


class Metadata(Model):
    name: Name = "policy"
    description: str | None = None


class Policy(Model):
    """A whole policy file."""

    apiVersion: Literal["hpcpolicy/v1", "hpcpolicy/v2"]
    kind: Literal["Policy"] = "Policy"
    metadata: Metadata = Metadata()
    defaults: Defaults = Defaults()
    guards: Guards = Guards()
    clusters: dict[Name, Cluster] = Field(min_length=1)
    orgs: dict[Name, Org] = {}
    users: dict[Name, User] = {}
    groups: dict[Name, Group] = {}
    fairshare: FairShare = Field(default=FairShare(), json_schema_extra=V2)
    services: dict[Name, Service] = Field(default={}, json_schema_extra=V2)
    alerts: Alerts = Field(default=Alerts(), json_schema_extra=V2)
