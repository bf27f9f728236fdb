"""Reading a trace for replay: pick the reader, keep what the policy needs, and put jobs in submit order.

The readers stream; a replay cannot, because jobs must be decided and queued in submit order and some
traces are not written in it (the Theta conversion, sacct output sorted by job id). So the jobs are
kept as compact tuples (:class:`TraceJob`), sorted once (Timsort is linear on sorted input), and the
trace's own records are not retained. Memory is O(jobs), as is the schedule the replay produces.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, tzinfo
from typing import Literal, NamedTuple

from hpcpolicy.adapters.traces import JobRecord, PbsTrace, Problems, SacctTrace, SwfTrace
from hpcpolicy.adapters.traces.units import open_text

from .workload import SimJob, as_sim_job

FORMATS = ("swf", "sacct", "pbs")
_PBS_LINE = re.compile(r"^[^;]*;[A-Z];[^;]+;")
_SWF_LINE = re.compile(r"^\s*-?\d+(\s+-?\d+(\.\d+)?){17}\s*$")
_EXAMPLES = 5


class TraceJob(NamedTuple):
    """A replayable job: the scheduler's view (``sim``) plus who ran it and what it asked for."""

    sim: SimJob
    user: str | None
    group: str | None
    partition: str | None
    queue: str | None
    gpus: int
    memory_gb: float | None
    line: int


@dataclass(slots=True)
class Trace:
    """A trace ready for replay. ``epoch`` is the UTC epoch of trace time 0 (0 when times are epochs)."""

    path: str
    format: str
    jobs: list[TraceJob]
    capacity: int | None
    epoch: float
    records: int
    problems: Problems
    dropped: Counter[str] = field(default_factory=Counter)
    dropped_examples: list[str] = field(default_factory=list)
    reordered: bool = False
    renamed: int = 0
    notes: dict[str, int] = field(default_factory=dict)


class TraceFormatError(ValueError):
    """The format cannot be told from the file, or the file cannot be opened."""


def detect_format(path: str | os.PathLike[str]) -> str:
    """``swf``, ``sacct`` or ``pbs`` from the file name or its first lines; raise when unsure."""
    name = os.fspath(path)
    if name.endswith((".swf", ".swf.gz")):
        return "swf"
    try:
        with open_text(name) as handle:
            lines = [line for _, line in zip(range(50), handle, strict=False) if line.strip()]
    except OSError as exc:
        raise TraceFormatError(f"cannot read {name}: {exc.strerror}") from None
    for line in lines:
        if _PBS_LINE.match(line):
            return "pbs"
        if "|" in line:
            return "sacct"
        if line.lstrip().startswith(";") or _SWF_LINE.match(line):
            return "swf"
    raise TraceFormatError(f"cannot tell the format of {name}: pass --format ({' | '.join(FORMATS)})")


def read_trace(
    path: str | os.PathLike[str],
    fmt: str = "auto",
    *,
    lenient: bool = False,
    requested_time_field: int = 9,
    columns: Sequence[str] | None = None,
    duplicates: Literal["first", "last"] = "first",
    tz: tzinfo = UTC,
) -> Trace:
    """Read, convert and sort a trace. Malformed lines raise :class:`TraceError` unless ``lenient``."""
    name = os.fspath(path)
    if not os.path.isfile(name):
        raise TraceFormatError(f"{name}: no such file")
    fmt = detect_format(name) if fmt == "auto" else fmt
    capacity: int | None = None
    epoch = 0.0
    records: Iterable[JobRecord]
    source: SwfTrace | SacctTrace | PbsTrace
    if fmt == "swf":
        swf = SwfTrace(name, requested_time_field=requested_time_field, lenient=lenient)
        capacity, epoch, records, source = swf.capacity, float(swf.unix_start_time or 0), swf, swf
    elif fmt == "sacct":
        sacct = SacctTrace(name, columns=columns, tz=tz, lenient=lenient)
        records = source = sacct
    elif fmt == "pbs":
        pbs = PbsTrace(name, duplicates=duplicates, lenient=lenient)
        records = source = pbs
    else:
        raise TraceFormatError(f"unknown trace format {fmt!r}: use one of {', '.join(FORMATS)}")
    trace = Trace(name, fmt, [], capacity, epoch, 0, source.problems)
    _collect(records, trace)
    trace.problems = source.problems  # the reader makes a fresh tally per iteration
    for note in ("steps_folded", "orphan_steps", "duplicates_skipped", "other_records"):
        if isinstance(value := getattr(source, note, None), int) and value:
            trace.notes[note] = value
    return trace


def _collect(records: Iterable[JobRecord], trace: Trace) -> None:
    jobs, seen, last = trace.jobs, set(), float("-inf")
    for record in records:
        trace.records += 1
        sim = as_sim_job(record)
        if isinstance(sim, str):
            trace.dropped[sim] += 1
            if len(trace.dropped_examples) < _EXAMPLES:
                trace.dropped_examples.append(f"{trace.path}:{record.line}: job {record.job_id}: {sim}")
            continue
        if sim.id in seen:  # ids key the replay's bookkeeping; a repeat is renamed after its line
            sim = sim._replace(id=f"{sim.id}@{record.line}")
            trace.renamed += 1
        seen.add(sim.id)
        if sim.submit < last:
            trace.reordered = True
        last = max(last, sim.submit)
        part, queue = record.partition, record.queue
        jobs.append(TraceJob(sim, record.user, record.group, part, queue, record.gpus, record.memory_gb, record.line))
    if trace.reordered:
        jobs.sort(key=_submit)


def _submit(job: TraceJob) -> float:
    return job.sim.submit
