"""A partition as the engine reads it: its effective caps (configured, bounded by the hardware), its access rule.

A partition also comes in one variant per QOS that allows it (:attr:`PartitionRef.qos`): the same
partition with the QOS's limits in place of its own, and the QOS's access to check. Both are built once
per policy, so a request naming a QOS costs a dictionary lookup.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from hpcpolicy.engine.codes import Code
from hpcpolicy.engine.hours import OpeningHours, opening_hours
from hpcpolicy.engine.rules.access import AccessRule, access_rule
from hpcpolicy.policy.schema import JobLimits, Partition
from hpcpolicy.policy.schema.partitions import Qos

_NO_QOS: Mapping[str, PartitionRef | None] = MappingProxyType({})


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
    minimums: tuple[int, int, float, int] | None = None  # min CPUs, GPUs, memory GB, nodes; None: none set
    exclusive: bool = False  # whole nodes: the job holds nodes × node size
    explicit: bool = False  # routing never picks it; only a request naming it runs here
    gpu_nodes: bool = False  # its nodes have GPUs: a job without GPUs goes here only by name
    hours: OpeningHours | None = None  # when it takes jobs; None: always
    exempt: AccessRule | None = None  # who may submit outside ``hours``
    qos: Mapping[str, PartitionRef | None] = field(default_factory=lambda: _NO_QOS, compare=False)
    """The cluster's QOS by name → this partition under it (None: the QOS does not allow this partition)."""
    qos_name: str | None = None  # set on a QOS variant: the QOS whose limits it carries
    qos_gate: AccessRule | None = None  # on a QOS variant: who may use the QOS


def under_qos(part: PartitionRef, qos: str | None) -> PartitionRef | None:
    """``part`` as a job naming ``qos`` sees it: its variant under the QOS, None where the QOS may not be
    used. A cluster whose policy defines no QOS leaves QOS to its scheduler: any name is accepted there."""
    if qos is None or not part.qos:
        return part
    return part.qos.get(qos)


def gpu_rate(part: Partition, gpu_type: str | None) -> float:
    """The rate for ``gpu_type`` (default: the nodes' type), falling back to the ``default`` entry."""
    table = part.rates.gpu_hour
    wanted = gpu_type or part.nodes.gpu_type or "default"
    return table.get(wanted, table.get("default", 0.0))


def _cap(configured: float | None, physical: float) -> float:
    return physical if configured is None else min(configured, physical)


def partition_ref(cluster: str, name: str, spec: Partition, qos: Mapping[str, Qos] | None = None) -> PartitionRef:
    """The partition ``name`` of ``cluster``, with its variant under each of the cluster's ``qos``."""
    variants: dict[str, PartitionRef | None] = {}
    for qos_name, q in (qos or {}).items():
        if q.partitions is not None and name not in q.partitions:
            variants[qos_name] = None
            continue
        limits = spec.limits.model_copy(update={f: getattr(q.limits, f) for f in q.limits.model_fields_set})
        what = f"qos {qos_name}"
        rule = access_rule(q.access, what, what, Code.QOS_ACCESS_DENIED, Code.QOS_ACCESS_DENIED)
        variants[qos_name] = _ref(cluster, name, spec, limits, qos_name, rule)
    return _ref(cluster, name, spec, spec.limits, qos=MappingProxyType(variants) if variants else _NO_QOS)


def _ref(
    cluster: str,
    name: str,
    spec: Partition,
    limits: JobLimits,
    qos_name: str | None = None,
    qos_gate: AccessRule | None = None,
    qos: Mapping[str, PartitionRef | None] = _NO_QOS,
) -> PartitionRef:
    nodes, schedule = spec.nodes, spec.schedule
    minimums = (limits.min_cpus or 0, limits.min_gpus or 0, limits.min_memory_gb or 0.0, limits.min_nodes or 0)
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
        minimums=minimums if any(minimums) else None,
        exclusive=spec.exclusive,
        explicit=spec.routing == "explicit",
        gpu_nodes=nodes.gpus > 0,
        hours=opening_hours(schedule) if schedule is not None else None,
        exempt=(
            access_rule(schedule.exempt, f"the opening hours of {name}", name)
            if schedule is not None and schedule.exempt is not None
            else None
        ),
        qos=qos,
        qos_name=qos_name,
        qos_gate=qos_gate,
    )
