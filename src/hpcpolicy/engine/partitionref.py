"""A partition as the engine reads it: its effective caps (configured, bounded by the hardware), its access rule."""

from __future__ import annotations

from dataclasses import dataclass

from hpcpolicy.engine.rules.access import AccessRule, access_rule
from hpcpolicy.policy.schema import Partition


@dataclass(frozen=True, slots=True)
class PartitionRef:
    """A partition with its effective per-job caps (the configured cap, bounded by the hardware)."""

    cluster: str
    name: str
    spec: Partition
    max_cpus: int
    max_gpus: int
    max_memory_gb: float
    max_nodes: int
    max_walltime_hours: float | None
    default_walltime_hours: float | None
    gpu_types: frozenset[str] | None
    access: AccessRule
    rates: tuple[float, float, float]  # per CPU-hour, per GPU-hour of the nodes' GPU type, per GB-hour


def gpu_rate(part: Partition, gpu_type: str | None) -> float:
    """The rate for ``gpu_type`` (default: the nodes' type), falling back to the ``default`` entry."""
    table = part.rates.gpu_hour
    wanted = gpu_type or part.nodes.gpu_type or "default"
    return table.get(wanted, table.get("default", 0.0))


def _cap(configured: float | None, physical: float) -> float:
    return physical if configured is None else min(configured, physical)


def partition_ref(cluster: str, name: str, spec: Partition) -> PartitionRef:
    nodes, limits = spec.nodes, spec.limits
    return PartitionRef(
        cluster=cluster,
        name=name,
        spec=spec,
        max_cpus=int(_cap(limits.max_cpus, nodes.count * nodes.cpus)),
        max_gpus=int(_cap(limits.max_gpus, nodes.count * nodes.gpus)),
        max_memory_gb=_cap(limits.max_memory_gb, nodes.count * nodes.memory_gb),
        max_nodes=int(_cap(limits.max_nodes, nodes.count)),
        max_walltime_hours=limits.max_walltime_hours,
        default_walltime_hours=limits.default_walltime_hours,
        gpu_types=frozenset(limits.gpu_types) if limits.gpu_types is not None else None,
        access=access_rule(spec.access, f"partition {name}", name),
        rates=(spec.rates.cpu_hour, gpu_rate(spec, None), spec.rates.memory_gb_hour),
    )
