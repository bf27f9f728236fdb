"""The scheduler models' input (:class:`SimJob`) and output (:class:`Schedule`), and the bridge from traces.

Schedulers take plain tuples rather than :class:`JobRecord` so they stay independent of trace
formats and fast (a tuple is created and read several times faster than a frozen dataclass).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import NamedTuple

from hpcpolicy.adapters.traces.record import JobRecord


class SimJob(NamedTuple):
    """A job to replay: ``runtime`` is what it actually ran, ``requested`` its walltime request (None: unknown)."""

    id: str
    submit: float
    runtime: float
    procs: int
    requested: float | None = None


class Placement(NamedTuple):
    """Where the model put a job: ``end − start`` is the simulated run (see ``kill_at_limit``).

    ``reserved`` is the EASY reservation (shadow time) computed when the job first became a blocked
    queue head; None under FIFO or when the job started as soon as it reached the head.
    """

    id: str
    submit: float
    start: float
    end: float
    procs: int
    reserved: float | None = None


class Skipped(NamedTuple):
    """A job the model could not place, with the reason (e.g. larger than the machine)."""

    job: SimJob
    reason: str


@dataclass(slots=True)
class Schedule:
    """A model's result: placements in order of start, plus jobs skipped rather than left blocking the queue.

    ``truncated`` counts jobs whose actual runtime exceeded their request and were cut at the limit.
    """

    model: str
    capacity: int
    placements: list[Placement] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    truncated: int = 0


def as_sim_job(record: JobRecord) -> SimJob | str:
    """The :class:`SimJob` for ``record``, or the reason it cannot be replayed.

    A record needs a runtime and a processor count: the SDSC raw log, for one, has cancelled jobs
    with runtime ``-1`` that never ran. A requested time of 0 or less counts as unknown.
    """
    procs = record.procs
    if record.runtime is None:
        return "runtime unknown (the job never ran)"
    if procs is None or procs < 1:
        return "processor count unknown"
    requested = record.time_requested
    return SimJob(record.job_id, record.submit, record.runtime, procs, requested if requested else None)


def to_sim_jobs(records: Iterable[JobRecord], dropped: list[tuple[JobRecord, str]] | None = None) -> Iterator[SimJob]:
    """Turn trace records into :class:`SimJob` lazily; records that cannot be replayed go to ``dropped``."""
    for record in records:
        job = as_sim_job(record)
        if isinstance(job, SimJob):
            yield job
        elif dropped is not None:
            dropped.append((record, job))
