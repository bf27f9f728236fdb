"""The policy file format as Pydantic models, one module per part of the file.

These models are the single definition of what a policy file may say. Shape and value checks live here
(types, ranges, unknown keys); cross-references (a user's project exists, a partition's default walltime
fits its cap) live in :mod:`hpcpolicy.policy.lint`, so that both kinds of error come back together, each
with its path. Every model is frozen: a loaded policy is a value, shared safely by concurrent requests.

``apiVersion: hpcpolicy/v2`` is a superset of v1: a v1 file loads unchanged and means what it meant;
fields marked ``since v2`` (:data:`.common.V2`) are refused in a v1 file with the version to write.
"""

from hpcpolicy.policy.schema.access import Access
from hpcpolicy.policy.schema.accounts import Group, Org, Project, Team, User
from hpcpolicy.policy.schema.common import Model, Name, NonNeg, NonNegInt, PosInt, Rate
from hpcpolicy.policy.schema.partitions import Cluster, JobLimits, NodeShape, Partition, Rates, Scheduler
from hpcpolicy.policy.schema.policy import (
    API_VERSION,
    API_VERSIONS,
    Defaults,
    ExpensiveJobGuard,
    GpuGuard,
    Guards,
    Metadata,
    Policy,
)
from hpcpolicy.policy.schema.quotas import Quota
from hpcpolicy.policy.schema.windows import (
    WINDOW_TAGS,
    CalendarWindow,
    Every,
    FixedWindow,
    Period,
    RollingWindow,
    TimeZone,
    Window,
)

__all__ = [
    "API_VERSION",
    "API_VERSIONS",
    "WINDOW_TAGS",
    "Access",
    "CalendarWindow",
    "Cluster",
    "Defaults",
    "Every",
    "ExpensiveJobGuard",
    "FixedWindow",
    "GpuGuard",
    "Group",
    "Guards",
    "JobLimits",
    "Metadata",
    "Model",
    "Name",
    "NodeShape",
    "NonNeg",
    "NonNegInt",
    "Org",
    "Partition",
    "Period",
    "Policy",
    "PosInt",
    "Project",
    "Quota",
    "Rate",
    "Rates",
    "RollingWindow",
    "Scheduler",
    "Team",
    "TimeZone",
    "User",
    "Window",
]
