"""Slurm's ``job_desc`` (as job_submit.lua sends it, raw) → the job's shape → the engine's Request.

The plugin sends Slurm's own field names, units and "unset" sentinels untouched, and all interpretation
happens here, where it is tested on recorded tables. Facts about Slurm 22.05 this relies on:

- Unset numbers are ``NO_VAL`` (0xfffffffe) for 32-bit fields, ``NO_VAL16`` (0xfffe) for 16-bit ones
  (``cpus_per_task``, ``ntasks_per_node``, ``pn_min_cpus``) and ``NO_VAL64`` for memory; ``INFINITE``
  is one above each. Lua numbers are doubles, so 64-bit values arrive rounded.
- ``pn_min_memory`` carries a flag bit (2^63) with ``--mem-per-cpu``; after rounding the value is
  lost, so the per-CPU amount is read from ``min_mem_per_cpu`` and any ``pn_min_memory`` ≥ 2^63 is
  ignored. Memory is in MiB; the engine's ``memory_gb`` is the job total in GiB.
- ``time_limit`` is in minutes. GPUs come as ``gres:gpu:a100:2`` (22.05) or ``gres/gpu:a100=2`` (23.x)
  in ``tres_per_job`` (``--gpus``), ``tres_per_node`` (``--gres``, ``--gpus-per-node``; ``gres``
  repeats it), ``tres_per_task`` and ``tres_per_socket``.
- A job record (``job_modify``'s ``job_rec``) also has ``tres_fmt_req_str`` (``cpu=2,mem=1000M,node=1,
  gres/gpu=1``): job totals, the most reliable description of a job already accepted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from pydantic import BaseModel, ConfigDict

from hpcpolicy.adapters.traces.sacct import parse_tres, tres_gpus
from hpcpolicy.adapters.traces.units import parse_size_gb
from hpcpolicy.engine import Request

NO_VAL16 = 0xFFFE
NO_VAL = 0xFFFFFFFE
#: Slurm's largest MaxArraySize: more tasks than this is not a job Slurm would accept.
MAX_ARRAY_TASKS = 4_000_001
_ARRAY_PART = re.compile(r"(\d{1,10})(?:-(\d{1,10}))?(?::(\d{1,10}))?")
MEM_FLAG = 2.0**63  # MEM_PER_CPU flag bit; NO_VAL64 and INFINITE64 lie above it too

CPU_FIELDS = ("num_tasks", "min_cpus", "cpus_per_task", "ntasks_per_node", "pn_min_cpus")
GPU_FIELDS = ("tres_per_job", "tres_per_node", "tres_per_task", "tres_per_socket", "gres")
MEMORY_FIELDS = ("pn_min_memory", "min_mem_per_cpu", "min_mem_per_node")


class JobDesc(BaseModel):
    """Raw ``job_desc``/``job_rec`` fields. Unknown fields are ignored so a newer plugin can send more.

    Numbers are finite (Lua's doubles always are; a NaN could only come from a forged body) and strings
    bounded; what they mean is checked when the job becomes a Request.
    """

    model_config = ConfigDict(extra="ignore", frozen=True, allow_inf_nan=False, str_max_length=65536)

    job_id: float | None = None
    user_id: float | None = None
    user_name: str | None = None
    group_id: float | None = None
    account: str | None = None
    partition: str | None = None
    qos: str | None = None
    num_tasks: float | None = None
    min_cpus: float | None = None
    cpus_per_task: float | None = None
    ntasks_per_node: float | None = None
    pn_min_cpus: float | None = None
    min_nodes: float | None = None
    time_limit: float | None = None
    pn_min_memory: float | None = None
    min_mem_per_cpu: float | None = None
    min_mem_per_node: float | None = None
    tres_per_job: str | None = None
    tres_per_node: str | None = None
    tres_per_task: str | None = None
    tres_per_socket: str | None = None
    gres: str | None = None
    array_inx: str | None = None
    admin_comment: str | None = None
    comment: str | None = None
    tres_fmt_req_str: str | None = None

    def number(self, name: str) -> int | None:
        """A numeric field, None when unset (its sentinel or above)."""
        value = getattr(self, name)
        sentinel = NO_VAL16 if name in ("cpus_per_task", "ntasks_per_node", "pn_min_cpus") else float(NO_VAL)
        if name in MEMORY_FIELDS:
            sentinel = MEM_FLAG
        return None if value is None or value >= sentinel or value < 0 else int(value)

    def text(self, name: str) -> str | None:
        """A string field, None when unset or blank."""
        value = getattr(self, name)
        return (value.strip() or None) if isinstance(value, str) else None

    def sets(self, fields: tuple[str, ...]) -> bool:
        """Whether any of ``fields`` is given (a job_modify ``job_desc`` holds only what changes)."""
        return any((self.text(f) if f in GPU_FIELDS else self.number(f)) is not None for f in fields)


@dataclass(frozen=True, slots=True)
class JobShape:
    """What a job asks for, in the engine's units: totals over all nodes, GiB, hours."""

    partition: str | None
    account: str | None
    cpus: int = 1
    nodes: int = 1
    gpus: int = 0
    gpu_type: str | None = None
    memory_gb: float = 0.0
    walltime_hours: float | None = None
    array_tasks: int = 1
    qos: str | None = None

    def to_request(self, user: str, groups: tuple[str, ...], cluster: str | None) -> Request:
        """The engine's request for ``user`` in Unix ``groups``. An array's tasks multiply the hours (each
        task runs the whole shape)."""
        hours: dict[str, float] = {}
        if self.array_tasks > 1 and self.walltime_hours is not None:
            hours = {
                "cpu_hours": self.cpus * self.walltime_hours * self.array_tasks,
                "gpu_hours": self.gpus * self.walltime_hours * self.array_tasks,
            }
        return Request(
            user_id=user,
            groups=groups,
            project=self.account,
            cluster=cluster,
            partition=self.partition,
            cpus=self.cpus,
            nodes=self.nodes,
            gpus=self.gpus,
            gpu_type=self.gpu_type,
            memory_gb=self.memory_gb,
            walltime_hours=self.walltime_hours,
            qos=self.qos,
            **hours,
        )

    def raises(self, before: JobShape) -> bool:
        """Whether this shape asks for more than ``before``, or elsewhere: what a modification must re-check.

        A walltime that becomes or stops being unknown (the partition default) counts as longer: the
        engine decides what it means.
        """
        if (self.partition, self.account, self.qos) != (before.partition, before.account, before.qos):
            return True
        if self.gpus and self.gpu_type != before.gpu_type:
            return True
        now, then = self.walltime_hours, before.walltime_hours
        longer = now != then and (now is None or then is None or now > then)
        sizes = zip(
            (self.cpus, self.nodes, self.gpus, self.memory_gb, self.array_tasks),
            (before.cpus, before.nodes, before.gpus, before.memory_gb, before.array_tasks),
            strict=True,
        )
        return longer or any(after > prior for after, prior in sizes)


def shape_of(desc: JobDesc) -> JobShape:
    """The shape of a job being submitted."""
    nodes = max(desc.number("min_nodes") or 1, 1)
    cpus = _cpus(desc, nodes)
    gpus, gpu_type = _gpus(desc, nodes)
    limit = desc.number("time_limit")
    return JobShape(
        partition=desc.text("partition"),
        account=desc.text("account"),
        cpus=cpus,
        nodes=nodes,
        gpus=gpus,
        gpu_type=gpu_type,
        memory_gb=_memory_gb(desc, cpus, nodes),
        walltime_hours=limit / 60.0 if limit is not None else None,
        array_tasks=array_size(desc.array_inx) if desc.array_inx else 1,
        qos=desc.text("qos"),
    )


def shape_of_record(rec: JobDesc) -> JobShape:
    """The shape of an accepted job (``job_rec``): its ``tres_fmt_req_str`` totals when present."""
    shape = shape_of(rec)
    if not rec.tres_fmt_req_str:
        return shape
    tres = parse_tres(rec.tres_fmt_req_str)
    typed = [key.split(":", 1)[1] for key in tres if key.startswith("gres/gpu:")]
    return replace(
        shape,
        cpus=int(tres.get("cpu", shape.cpus)),
        nodes=int(tres.get("node", shape.nodes)),
        gpus=tres_gpus(tres),
        gpu_type=typed[0] if len(typed) == 1 else shape.gpu_type,
        memory_gb=parse_size_gb(tres["mem"]) if "mem" in tres else shape.memory_gb,
        array_tasks=1,
    )


def modified(before: JobShape, changes: JobDesc) -> JobShape:
    """``before`` with what a job_modify ``job_desc`` changes; fields it leaves unset keep their value."""
    after = before
    if changes.text("partition"):
        after = replace(after, partition=changes.text("partition"))
    if changes.text("account"):
        after = replace(after, account=changes.text("account"))
    if changes.text("qos"):
        after = replace(after, qos=changes.text("qos"))
    if (limit := changes.number("time_limit")) is not None:
        after = replace(after, walltime_hours=limit / 60.0)
    if (nodes := changes.number("min_nodes")) is not None:
        after = replace(after, nodes=max(nodes, 1))
    if changes.sets(CPU_FIELDS):
        after = replace(after, cpus=_cpus(changes, after.nodes))
    if changes.sets(GPU_FIELDS):
        gpus, gpu_type = _gpus(changes, after.nodes)
        after = replace(after, gpus=gpus, gpu_type=gpu_type)
    if changes.sets(MEMORY_FIELDS):
        after = replace(after, memory_gb=_memory_gb(changes, after.cpus, after.nodes))
    return after


def _cpus(desc: JobDesc, nodes: int) -> int:
    """The largest CPU count the request implies (Slurm allocates at least that many)."""
    per_task = desc.number("cpus_per_task") or 1
    candidates = (
        desc.number("min_cpus") or 1,
        (desc.number("num_tasks") or 0) * per_task,
        (desc.number("ntasks_per_node") or 0) * nodes * per_task,
        (desc.number("pn_min_cpus") or 0) * nodes,
    )
    return max(candidates)


def _memory_gb(desc: JobDesc, cpus: int, nodes: int) -> float:
    """Job-total GiB: per CPU × CPUs, else per node × nodes; 0 when the job leaves it to Slurm's default."""
    if (per_cpu := desc.number("min_mem_per_cpu")) is not None:
        return per_cpu * cpus / 1024.0
    per_node = desc.number("min_mem_per_node")
    if per_node is None:
        per_node = desc.number("pn_min_memory")
    return per_node * nodes / 1024.0 if per_node is not None else 0.0


def _gpus(desc: JobDesc, nodes: int) -> tuple[int, str | None]:
    """Total GPUs and their type. Per-node counts multiply by nodes, per-task by tasks; the largest wins."""
    tasks = desc.number("num_tasks") or 1
    found = [
        (gpu_spec(desc.tres_per_job), 1),
        (gpu_spec(desc.tres_per_node or desc.gres), nodes),
        (gpu_spec(desc.tres_per_task), tasks),
        (gpu_spec(desc.tres_per_socket), nodes),
    ]
    total, gpu_type = 0, None
    for (count, kind), factor in found:
        if count * factor > total:
            total, gpu_type = count * factor, kind
    return total, gpu_type


def gpu_spec(spec: str | None) -> tuple[int, str | None]:
    """GPUs in one TRES/GRES list: ``gres:gpu:a100:2`` → (2, "a100"); ``gres:gpu`` → (1, None).

    Several types in one list give their sum and no single type. Other GRES (``shard``, ``mps``) are not GPUs.
    """
    total, kinds = 0, set()
    for item in (spec or "").split(","):
        name, eq, count_text = item.strip().removeprefix("gres:").removeprefix("gres/").partition("=")
        parts = name.split(":")
        if parts[0] != "gpu":
            continue
        rest = parts[1:]
        if not eq:
            count_text = rest.pop() if rest and rest[-1].isdigit() else "1"
        digits = "".join(ch for ch in count_text if ch.isdigit())
        total += int(digits) if digits else 1
        if rest:
            kinds.add(rest[0])
    return total, kinds.pop() if len(kinds) == 1 else None


def array_size(array_inx: str) -> int:
    """Tasks in an ``--array`` spec: ``0-9%2`` → 10, ``1,3,5-7`` → 5, ``0-15:4`` → 4.

    Raises ValueError for anything else (a zero step, a range running backwards, more tasks than Slurm's
    largest MaxArraySize), with the spec in the message.
    """
    total = 0
    for part in array_inx.split("%", 1)[0].split(","):
        match = _ARRAY_PART.fullmatch(part.strip())
        if match is None or match.group(3) == "0" or int(match.group(2) or match.group(1)) < int(match.group(1)):
            raise ValueError(f"bad array spec {array_inx[:64]!r}")
        first, last, step = match.group(1), match.group(2) or match.group(1), match.group(3) or "1"
        total += len(range(int(first), int(last) + 1, int(step)))
        if total > MAX_ARRAY_TASKS:
            raise ValueError(f"array spec {array_inx[:64]!r} has more than {MAX_ARRAY_TASKS} tasks")
    return max(total, 1)
