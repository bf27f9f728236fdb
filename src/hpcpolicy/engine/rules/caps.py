"""Per-job caps of a partition: job totals against the partition's caps and minimums, each node's share
against one node."""

from __future__ import annotations

import math

from hpcpolicy.engine.codes import Code
from hpcpolicy.engine.decision import Violation, num
from hpcpolicy.engine.partitionref import PartitionRef
from hpcpolicy.engine.request import Request


def _over(found: list[Violation], code: Code, what: str, scope: str, limit: float, requested: float) -> bool:
    if requested > limit:
        found.append(
            Violation(code, f"{what} {num(requested)} exceeds the limit of {num(limit)}", scope, limit, requested)
        )
        return True
    return False


def _under(found: list[Violation], code: Code, what: str, scope: str, minimum: float, requested: float) -> None:
    if requested < minimum:
        message = f"{what} {num(requested)} is below the minimum of {num(minimum)}"
        found.append(Violation(code, message, scope, minimum, requested))


def _minimums(
    request: Request, minimums: tuple[int, int, float, int], scope: str, found: list[Violation]
) -> None:
    """A partition's minimums (``limits.min_*``): it is meant for jobs at least this large."""
    cpus, gpus, memory_gb, nodes = minimums
    _under(found, Code.LIMIT_MIN_CPUS, "CPUs", scope, cpus, request.cpus)
    _under(found, Code.LIMIT_MIN_GPUS, "GPUs", scope, gpus, request.gpus)
    _under(found, Code.LIMIT_MIN_MEMORY, "memory (GB)", scope, memory_gb, request.memory_gb)
    _under(found, Code.LIMIT_MIN_NODES, "nodes", scope, nodes, request.nodes)


def cap_violations(request: Request, part: PartitionRef, walltime: float, scope: str, found: list[Violation]) -> None:
    """Job totals against the caps, then the per-node share against one node (only where the total fit).

    The first test is the common case (everything fits) in one expression; ``ceil(a / n) ≤ c`` is
    written ``a ≤ c × n``. Only a job that breaks something pays for the detailed checks below.
    """
    nodes, n = part.spec.nodes, request.nodes
    if (
        request.cpus <= part.max_cpus
        and request.cpus <= nodes.cpus * n
        and request.gpus <= part.max_gpus
        and request.gpus <= nodes.gpus * n
        and request.memory_gb <= part.max_memory_gb
        and request.memory_gb <= nodes.memory_gb * n
        and n <= part.max_nodes
        and (part.max_walltime_hours is None or walltime <= part.max_walltime_hours)
        and request.gpu_type is None
        and part.minimums is None
    ):
        return
    if part.minimums is not None:
        _minimums(request, part.minimums, scope, found)
    if not _over(found, Code.LIMIT_MAX_CPUS, "CPUs", scope, part.max_cpus, request.cpus):
        _over(found, Code.LIMIT_CPUS_PER_NODE, "CPUs per node", scope, nodes.cpus, math.ceil(request.cpus / n))
    if not _over(found, Code.LIMIT_MAX_GPUS, "GPUs", scope, part.max_gpus, request.gpus):
        _over(found, Code.LIMIT_GPUS_PER_NODE, "GPUs per node", scope, nodes.gpus, math.ceil(request.gpus / n))
    if not _over(found, Code.LIMIT_MAX_MEMORY, "memory (GB)", scope, part.max_memory_gb, request.memory_gb):
        _over(
            found,
            Code.LIMIT_MEMORY_PER_NODE,
            "memory per node (GB)",
            scope,
            nodes.memory_gb,
            request.memory_gb / n,
        )
    _over(found, Code.LIMIT_MAX_NODES, "nodes", scope, part.max_nodes, request.nodes)
    if part.max_walltime_hours is not None:
        _over(found, Code.LIMIT_MAX_WALLTIME, "walltime (h)", scope, part.max_walltime_hours, walltime)
    wanted = request.gpu_type
    if wanted is not None and (
        wanted != nodes.gpu_type or (part.gpu_types is not None and wanted not in part.gpu_types)
    ):
        offered = nodes.gpu_type if part.gpu_types is None else ", ".join(sorted(part.gpu_types))
        found.append(
            Violation(
                Code.LIMIT_GPU_TYPE,
                f"GPU type {wanted} is not available on {part.name} (offers {offered or 'none'})",
                scope,
                limit=offered,
                requested=wanted,
            )
        )
