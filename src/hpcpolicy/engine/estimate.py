"""What a job will consume: resource-hours from what it holds, cost from the partition's rates.

A job holds what it asks for, except on an ``exclusive`` partition, where it holds whole nodes
(:func:`allocation`): the estimate, the lien and the charge all count that.
"""

from __future__ import annotations

from hpcpolicy.engine.decision import Estimate
from hpcpolicy.engine.request import Request
from hpcpolicy.engine.snapshot import PartitionRef, gpu_rate
from hpcpolicy.engine.weights import hour_weights


def walltime_for(request: Request, part: PartitionRef | None, policy_default: float) -> float:
    """The request's walltime, else the partition's default, else the policy's default."""
    if request.walltime_hours is not None:
        return request.walltime_hours
    if part is not None and part.default_walltime_hours is not None:
        return part.default_walltime_hours
    return policy_default


def allocation(request: Request, part: PartitionRef | None) -> tuple[int, int, float]:
    """(CPUs, GPUs, memory GB) the job holds on ``part``: its request, or its nodes × node size when exclusive.

    The one statement of what an admitted job holds: the estimate prices it and the lien records it
    (so usage reported up to it is believed, and unreported usage is charged as it).
    """
    if part is None or not part.exclusive:
        return request.cpus, request.gpus, request.memory_gb
    nodes, n = part.spec.nodes, request.nodes
    return n * nodes.cpus, n * nodes.gpus, n * nodes.memory_gb


def resource_hours(request: Request, walltime: float) -> tuple[float, float]:
    """CPU- and GPU-hours the job will hold: resources × walltime, or the declared hours if larger.

    Declared hours (the original service sent hours only) may raise the estimate, never lower it: a job
    that asks for 64 CPUs for 100 hours holds 6,400 CPU-hours whatever it declares, and the scheduler
    will let it use them.
    """
    cpu_hours, gpu_hours = request.cpus * walltime, request.gpus * walltime
    if request.cpu_hours is not None and request.cpu_hours > cpu_hours:
        cpu_hours = request.cpu_hours
    if request.gpu_hours is not None and request.gpu_hours > gpu_hours:
        gpu_hours = request.gpu_hours
    return cpu_hours, gpu_hours


def held_hours(request: Request, cpus: int, gpus: int, walltime: float) -> tuple[float, float]:
    """:func:`resource_hours` for the ``cpus`` and ``gpus`` held (whole nodes on an exclusive partition)."""
    return max(cpus * walltime, request.cpu_hours or 0.0), max(gpus * walltime, request.gpu_hours or 0.0)


def estimate(request: Request, part: PartitionRef | None, walltime: float) -> Estimate:
    """What the job will consume over ``walltime`` (:func:`resource_hours`) and what it will cost.

    The hours are as budgets count them (× the partition's ``hour_weights``); the cost is priced from the
    raw hours. Cost is zero when no partition is known: there are no rates to apply.
    """
    if part is None:
        cpu_hours, gpu_hours = resource_hours(request, walltime)
        return Estimate(cpu_hours, gpu_hours, 0.0, walltime)
    if part.exclusive:
        cpus, gpus, memory_gb = allocation(request, part)
        cpu_hours, gpu_hours = held_hours(request, cpus, gpus, walltime)
    else:
        cpu_hours, gpu_hours = resource_hours(request, walltime)
        gpus, memory_gb = request.gpus, request.memory_gb
    cost = price(unit_rates(request, part), cpu_hours, gpu_hours, memory_gb, walltime)
    if part.spec.hour_weights is not None:
        w_cpu, w_gpu = hour_weights(part, gpus, request.gpu_type)
        cpu_hours, gpu_hours = cpu_hours * w_cpu, gpu_hours * w_gpu
    return Estimate(cpu_hours, gpu_hours, cost, walltime)


def unit_rates(request: Request, part: PartitionRef | None) -> tuple[float, float, float]:
    """(per CPU-hour, per GPU-hour for the job's GPU type, per memory GB-hour) on ``part``.

    A lien records these so that the job is charged at the prices in force when it was admitted.
    """
    if part is None:
        return (0.0, 0.0, 0.0)
    rates = part.spec.rates
    return (rates.cpu_hour, gpu_rate(part.spec, request.gpu_type), rates.memory_gb_hour)


def price(
    rates: tuple[float, float, float], cpu_hours: float, gpu_hours: float, memory_gb: float, hours: float
) -> float:
    """Cost in billing units: the one pricing formula, for estimates and for actual usage."""
    return round(cpu_hours * rates[0] + gpu_hours * rates[1] + memory_gb * hours * rates[2], 9)


def ranking_cost(request: Request, part: PartitionRef, walltime: float) -> float:
    """The job's cost on ``part`` at the nodes' own GPU rate: the routing order, cheap to compute.

    Equal to :func:`estimate`'s cost wherever the partition can take the job (a request for another GPU
    type is refused by the partition rules anyway).
    """
    cpu_rate, gpu, mem_rate = part.rates
    cpus, gpus, memory_gb = allocation(request, part)
    cpu_hours, gpu_hours = held_hours(request, cpus, gpus, walltime)
    return cpu_hours * cpu_rate + gpu_hours * gpu + memory_gb * walltime * mem_rate
