"""Stable reason codes. Clients, dashboards and tests compare these strings, never message text.

A code is ``<area>.<what>``; once released a code keeps its meaning. New rules get new codes.
"""

from __future__ import annotations

from enum import StrEnum


class Code(StrEnum):
    # Who may charge what
    PROJECT_UNKNOWN = "project.unknown"  # the request names a project the policy does not have
    PROJECT_NOT_MEMBER = "project.not_member"  # the user is not a member of the project
    PROJECT_REQUIRED = "project.required"  # the user has several projects, no default, and named none
    # Where the job may run
    CLUSTER_UNKNOWN = "cluster.unknown"
    PARTITION_UNKNOWN = "partition.unknown"
    PARTITION_AMBIGUOUS = "partition.ambiguous"  # the name exists on several clusters; name the cluster
    PARTITION_ROLE_REQUIRED = "partition.role_required"  # partition access lists roles the user lacks
    PARTITION_ACCESS_DENIED = "partition.access_denied"  # a deny list, or a project allow list, excludes
    ROUTE_NO_FIT = "route.no_fit"  # no partition given and none accepts the job; see rejected_routes
    # Per-job caps (the partition's cap, or its hardware when it sets none)
    LIMIT_MAX_CPUS = "limit.max_cpus"
    LIMIT_MAX_GPUS = "limit.max_gpus"
    LIMIT_MAX_MEMORY = "limit.max_memory"
    LIMIT_MAX_NODES = "limit.max_nodes"
    LIMIT_MAX_WALLTIME = "limit.max_walltime"
    LIMIT_GPU_TYPE = "limit.gpu_type"  # the GPU type asked for is not offered or not allowed here
    LIMIT_CPUS_PER_NODE = "limit.cpus_per_node"  # the job's share of one node exceeds a node
    LIMIT_GPUS_PER_NODE = "limit.gpus_per_node"
    LIMIT_MEMORY_PER_NODE = "limit.memory_per_node"
    # Guards
    GPU_ROLE_REQUIRED = "gpu.role_required"
    COST_ROLE_REQUIRED = "cost.role_required"  # estimated cost above the expensive-job threshold
    # Budgets over windows, on every scope of the account path
    QUOTA_CPU_HOURS = "quota.cpu_hours_exceeded"
    QUOTA_GPU_HOURS = "quota.gpu_hours_exceeded"
    QUOTA_COST = "quota.cost_exceeded"
    QUOTA_INACTIVE = "quota.allocation_inactive"  # a fixed allocation outside its start..end dates
    QUOTA_SHARE = "quota.share_exceeded"  # the parent's budget left is guaranteed to siblings, or borrowing ran out
    # Concurrency
    CONCURRENCY_MAX_JOBS = "concurrency.max_jobs"
    CONCURRENCY_MAX_GPUS = "concurrency.max_gpus"
    SERVICE_MAX_RUNS = "service.max_runs"  # the service's runs at once (in total, or of this user)
    QUEUE_WAITING = "queue.waiting"  # it fits, but held requests wait for a slot of the same limit: it queues too
    QUEUE_FULL = "queue.full"  # the request could wait, but its user already has the most held requests allowed
    # Where, policy v2: partition shapes, routing, QOS, opening hours
    LIMIT_MIN_CPUS = "limit.min_cpus"  # the job asks for fewer than the partition's minimum
    LIMIT_MIN_GPUS = "limit.min_gpus"
    LIMIT_MIN_MEMORY = "limit.min_memory"
    LIMIT_MIN_NODES = "limit.min_nodes"
    ROUTE_EXPLICIT = "route.explicit"  # (rejected routes) routing: explicit; the job did not name it
    ROUTE_GPU_NODES = "route.gpu_nodes"  # (rejected routes) GPU nodes; a job without GPUs did not name it
    QOS_UNKNOWN = "qos.unknown"  # the QOS is not defined on the route's cluster
    QOS_NOT_ALLOWED = "qos.not_allowed"  # the QOS may not be used on this partition
    QOS_ACCESS_DENIED = "qos.access_denied"  # the caller does not match the QOS's access
    PARTITION_CLOSED = "partition.closed"  # outside the partition's opening hours (and not exempt)
    # Warnings (never a denial; in a decision's ``warnings``)
    QUOTA_WARN_THRESHOLD = "quota.warn_threshold"  # the job takes a budget past one of its warn_at fractions
    QUOTA_OVERDRAFT = "quota.overdraft"  # admitted into the quota's overdraft
    QUOTA_REROUTED = "quota.exhausted_rerouted"  # a budget refused the job; on_exhausted sent it elsewhere


#: Violations that time alone can lift: a slot frees when another job of the scope ends. A request refused
#: by nothing else may wait in the admission queue instead of being denied.
TRANSIENT = frozenset({Code.CONCURRENCY_MAX_JOBS, Code.CONCURRENCY_MAX_GPUS, Code.SERVICE_MAX_RUNS, Code.QUEUE_WAITING})
