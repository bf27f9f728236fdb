"""Slurm ``sacct --parsable2`` reader: ``|``-separated columns, one line per job and per job step.

The columns come from the header line when there is one (``sacct --parsable2``; it takes precedence,
and a repeated header in concatenated output resets them) and from the caller otherwise
(``--noheader``: pass the ``--format`` list as ``columns=``). Column names are matched
case-insensitively; unknown columns are ignored, so any ``--format`` works as long as it has ``JobID``.

Job steps (``77454.batch``, ``77454.extern``, ``77454.0``) are folded into their job: the job line
already holds the allocation (CPUs, memory, time limit) the scheduler saw, and a step's usage is only
part of it, so steps are counted (``steps_folded``) and not emitted. sacct prints steps right after
their job; a step whose job line was not the last job seen (filtered output) is counted in
``orphan_steps`` and skipped. Timestamps carry no zone in sacct output; they are read in ``tz``
(UTC by default — pass the cluster's zone for true epochs; waits and runtimes do not depend on it
except across DST changes).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime, tzinfo

from . import record as r
from .errors import Problems, TraceError
from .record import JobRecord
from .units import open_text, parse_duration, parse_size_gb

_STATES = {
    "COMPLETED": r.COMPLETED, "FAILED": r.FAILED, "CANCELLED": r.CANCELLED, "TIMEOUT": r.TIMEOUT,
    "OUT_OF_MEMORY": r.OUT_OF_MEMORY, "NODE_FAIL": r.NODE_FAIL, "PREEMPTED": r.PREEMPTED, "RUNNING": r.RUNNING,
    "PENDING": r.PENDING, "REQUEUED": r.PENDING, "BOOT_FAIL": r.FAILED, "DEADLINE": r.TIMEOUT,
    "SUSPENDED": r.RUNNING, "RESIZING": r.RUNNING, "REVOKED": r.CANCELLED,
}  # fmt: skip
_ID_COLUMNS = frozenset({"jobid", "jobidraw"})
_NO_TIME = frozenset({"", "unknown", "none", "n/a"})
_NO_LIMIT = frozenset({"", "unlimited", "partition_limit", "invalid", "none"})
_REQMEM = re.compile(r"(\d+(?:\.\d+)?)([KMGTP]?)([nc]?)", re.IGNORECASE)


def parse_timestamp(text: str, tz: tzinfo = UTC) -> float | None:
    """Epoch seconds from ``2014-06-26T11:51:28`` read in ``tz``; ``Unknown``/``None`` (not started) give None."""
    if text.strip().lower() in _NO_TIME:
        return None
    stamp = datetime.fromisoformat(text.strip())
    return (stamp if stamp.tzinfo else stamp.replace(tzinfo=tz)).timestamp()


def parse_limit(text: str) -> float | None:
    """Seconds of a Timelimit; ``UNLIMITED`` and ``Partition_Limit`` give None (no per-job request)."""
    return None if text.strip().lower() in _NO_LIMIT else parse_duration(text)


def parse_tres(text: str) -> dict[str, str]:
    """``cpu=4,mem=8G,node=1,gres/gpu=1`` → ``{"cpu": "4", "mem": "8G", "node": "1", "gres/gpu": "1"}``."""
    pairs = (item.partition("=") for item in text.split(",") if item.strip())
    return {key.strip().lower(): value.strip() for key, sep, value in pairs if sep}


def tres_gpus(tres: dict[str, str]) -> int:
    """GPUs in a TRES dict: ``gres/gpu`` is the total, typed entries (``gres/gpu:a100``) count per model.

    The larger of the total and the sum of typed counts is used, so a log that only lists typed
    counts (or disagrees with itself) never under-counts.
    """
    typed = sum(int(value) for key, value in tres.items() if key.startswith("gres/gpu:"))
    return max(int(tres.get("gres/gpu", "0")), typed)


def parse_reqmem(text: str, nodes: int | None, cpus: int | None) -> float | None:
    """Job-total GiB from ReqMem: ``5150Mn`` per node, ``4Gc`` per CPU (Slurm < 21.08) or ``8G`` (total).

    ``0`` means "all memory of the node" and is unknown in GiB, like an empty field.
    """
    match = _REQMEM.fullmatch(text.strip())
    if not match:
        raise ValueError(f"bad ReqMem {text!r}")
    per = parse_size_gb(match.group(1) + match.group(2))
    scope = match.group(3).lower()
    count = nodes if scope == "n" else cpus if scope == "c" else 1
    return None if per == 0 or count is None else per * count


def _int(text: str | None) -> int | None:
    return int(text) if text and text.strip() else None


def parsable2_lines(
    lines: Iterable[str], columns: Sequence[str] | None = None
) -> Iterator[tuple[int, list[str] | None, list[str]]]:
    """``(line number, columns, fields)`` for each data line of ``sacct --parsable2`` output.

    A header line (one naming JobID or JobIDRaw) sets the lower-case columns and is not yielded; blank
    lines are skipped. ``columns`` is None until a header or the caller's list gives them, and each reader
    decides what a missing or mismatched column list means for it.
    """
    current = [c.strip().lower() for c in columns] if columns is not None else None
    for number, raw in enumerate(lines, start=1):
        line = raw.rstrip("\r\n")
        if not line.strip():
            continue
        fields = line.split("|")
        if not _ID_COLUMNS.isdisjoint(f.strip().lower() for f in fields):
            current = [f.strip().lower() for f in fields]
            continue
        yield number, current, fields


class SacctTrace:
    """A sacct ``--parsable2`` file; iteration streams one :class:`JobRecord` per job (steps folded).

    Columns used: JobID (or JobIDRaw), State, Submit, Start, End, Elapsed/ElapsedRaw (else End − Start),
    NCPUS/AllocCPUS, ReqCPUS, NNodes/ReqNodes, Timelimit/TimelimitRaw, ReqMem, ReqTRES/AllocTRES (cpu,
    mem, node, gres/gpu), User, Group, Partition, and QOS as ``queue`` (Slurm's nearest analogue).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        columns: Sequence[str] | None = None,
        tz: tzinfo = UTC,
        lenient: bool = False,
    ) -> None:
        self.path = path
        self.name = os.path.basename(os.fspath(path))
        self.columns = [c.strip().lower() for c in columns] if columns is not None else None
        self.tz = tz
        self.problems = Problems(lenient=lenient)
        self.steps_folded = 0
        self.orphan_steps = 0

    def __iter__(self) -> Iterator[JobRecord]:
        self.problems = Problems(lenient=self.problems.lenient)
        self.steps_folded = self.orphan_steps = 0
        last_job: str | None = None
        with open_text(self.path) as handle:
            for number, columns, fields in parsable2_lines(handle, self.columns):
                if columns is None:
                    raise TraceError(self.name, number, "no header line: pass columns= (the sacct --format list)")
                if _ID_COLUMNS.isdisjoint(columns):
                    raise TraceError(self.name, number, "the column list has no JobID")
                try:
                    if len(fields) != len(columns):
                        raise TraceError(self.name, number, f"expected {len(columns)} fields, got {len(fields)}")
                    row = dict(zip(columns, fields, strict=True))
                    job_id, dot, _step = (row.get("jobid") or row.get("jobidraw", "")).strip().partition(".")
                    if dot:
                        if job_id == last_job:
                            self.steps_folded += 1
                        else:
                            self.orphan_steps += 1
                        continue
                    last_job = job_id
                    yield self._record(row, job_id, number)
                except TraceError as error:
                    self.problems.report(error)

    def _record(self, row: dict[str, str], job_id: str, number: int) -> JobRecord:
        get = row.get
        try:
            submit = parse_timestamp(get("submit", ""), self.tz)
            if submit is None:
                raise ValueError("Submit is unknown: the job cannot be replayed")
            start = parse_timestamp(get("start", ""), self.tz)
            end = parse_timestamp(get("end", ""), self.tz)
            status = _STATES.get((get("state") or "").split(" ")[0].rstrip("+").upper(), r.UNKNOWN)
            alloc_tres = parse_tres(get("alloctres", ""))
            req_tres = parse_tres(get("reqtres", ""))
            alloc = _int(get("ncpus") or get("alloccpus") or alloc_tres.get("cpu"))
            req = _int(get("reqcpus") or req_tres.get("cpu"))
            nodes = _int(get("nnodes") or get("reqnodes") or alloc_tres.get("node") or req_tres.get("node"))
            runtime: float | None = None
            never_started = "start" in row and start is None
            if status not in (r.RUNNING, r.PENDING) and not never_started:  # only a finished run has a runtime
                if get("elapsedraw"):
                    runtime = float(row["elapsedraw"])
                elif get("elapsed"):
                    runtime = parse_duration(row["elapsed"])
                elif start is not None and end is not None:
                    runtime = end - start
            limit = parse_limit(get("timelimit", ""))
            if get("timelimitraw", "").strip().isdigit():
                limit = float(row["timelimitraw"]) * 60.0  # TimelimitRaw is in minutes
            mem_text = req_tres.get("mem") or alloc_tres.get("mem")
            memory = parse_size_gb(mem_text) if mem_text else None
            if memory is None and get("reqmem", "").strip():
                memory = parse_reqmem(row["reqmem"], nodes, alloc if alloc is not None else req)
            gpus = tres_gpus(alloc_tres) or tres_gpus(req_tres)
        except ValueError as error:
            raise TraceError(self.name, number, f"job {job_id}: {error}") from None
        if runtime is not None and runtime < 0:
            raise TraceError(self.name, number, f"job {job_id}: End before Start")
        return JobRecord(
            job_id=job_id,
            submit=submit,
            wait=start - submit if start is not None else None,
            runtime=runtime,
            procs_requested=req,
            procs_allocated=alloc,
            time_requested=limit,
            memory_gb=memory,
            gpus=gpus,
            status=status,
            user=get("user") or None,
            group=get("group") or None,
            queue=get("qos") or None,
            partition=get("partition") or None,
            line=number,
        )


def read_sacct(
    path: str | os.PathLike[str], *, columns: Sequence[str] | None = None, tz: tzinfo = UTC, lenient: bool = False
) -> Iterator[JobRecord]:
    """Stream the jobs of a sacct ``--parsable2`` file."""
    return iter(SacctTrace(path, columns=columns, tz=tz, lenient=lenient))
