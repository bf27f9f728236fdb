"""How an hour on a partition counts against hour budgets (policy v2 ``hour_weights``).

Like Slurm's TRESBillingWeights: a scavenger partition may count at 0, an H100 hour as 2 A100 hours.
Budgets see raw hours × weight; cost is priced from the raw hours with the rates, so a weight never
changes what a job costs, only how much of an hour budget it uses.
"""

from __future__ import annotations

from hpcpolicy.engine.partitionref import PartitionRef
from hpcpolicy.engine.slices import job_gpu_type

UNWEIGHTED = (1.0, 1.0)


def hour_weights(part: PartitionRef | None, gpus: int, gpu_type: str | None) -> tuple[float, float]:
    """(CPU-hour weight, GPU-hour weight) of a job with ``gpus`` of ``gpu_type`` on ``part``."""
    weights = part.spec.hour_weights if part is not None else None
    if weights is None:
        return UNWEIGHTED
    gpu = weights.gpu
    if isinstance(gpu, dict):
        used = job_gpu_type(gpus, gpu_type, part.spec.nodes.gpu_type) if part is not None else None
        gpu = gpu.get(used or "default", gpu.get("default", 1.0))
    return weights.cpu, gpu
