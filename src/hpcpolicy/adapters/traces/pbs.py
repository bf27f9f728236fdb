"""PBS/Torque accounting-log reader: only ``E`` (job ended) records, ``date;E;jobid;key=value ...``.

An ``E`` record holds everything a replay needs: ``qtime`` (submit), ``start``, ``end`` epochs, the
request (``Resource_List.*``) and the allocation (``total_execution_slots`` or ``exec_host``). Other
record types (Q, S, D, A...) are skipped and counted in ``other_records``. The leading log timestamp
is not used: it is local time without a zone and some logs carry a file prefix there
(``20150327:03/27/2015 00:06:27``); the record's own epochs are authoritative.

Runtime is ``end − start`` (the time the job held its slots, which is what a scheduler model needs),
falling back to ``resources_used.walltime`` when either epoch is missing; a real Torque log has
``walltime=19:23:4`` for a job that ran 6 h 42 min between start and end. ``end < start`` is a
malformed record.

Duplicate job ids (Torque re-logs an ``E`` record after a server restart or a requeue) follow
``duplicates``: ``"first"`` (default) streams — it keeps one set of seen ids and skips a repeat
*before* parsing it; ``"last"`` keeps the final record per id, which needs the whole log in memory
(records are then emitted at the end, in line order). Either way ``duplicates_skipped`` counts them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Literal

from .errors import Problems, TraceError
from .record import COMPLETED, FAILED, TIMEOUT, UNKNOWN, JobRecord
from .units import open_text, parse_duration, parse_size_gb

_EPOCHS = ("ctime", "qtime", "etime", "start", "end")


def parse_exec_host(text: str) -> int:
    """Slots in ``exec_host``: ``a/7+a/6`` → 2, ``b391/0-3`` → 4, ``b391/0-1,5,11`` → 4, ``host`` → 1."""
    slots = 0
    for entry in text.split("+"):
        _host, slash, spec = entry.partition("/")
        if not slash:
            slots += 1
            continue
        for item in spec.split(","):
            low, dash, high = item.partition("-")
            slots += int(high) - int(low) + 1 if dash else (1 if int(low) >= 0 else 0)
    return slots


def parse_nodes(text: str) -> tuple[int, int] | None:
    """(procs, gpus) of a Torque node spec: ``2:ppn=4`` → (8, 0), ``1`` → (1, 0), ``hostA+hostB:ppn=2`` → (3, 0).

    Returns None when the spec is not understood (``1pn=4`` appears in a real log): an unknown request
    is better than a guessed one, and the allocation is still read from ``exec_host``.
    """
    procs = gpus = 0
    for part in text.split("+"):
        head, *options = part.split(":")
        if not head or "=" in head:
            return None
        count = int(head) if head.isdigit() else 1  # a hostname stands for one node
        ppn, per_gpus = 1, 0
        for option in options:
            key, eq, value = option.partition("=")
            if eq and key in ("ppn", "gpus"):
                if not value.isdigit():
                    return None
                ppn, per_gpus = (int(value), per_gpus) if key == "ppn" else (ppn, int(value))
        procs += count * ppn
        gpus += count * per_gpus
    return procs, gpus


def parse_select(text: str) -> tuple[int, int]:
    """(procs, gpus) of a PBS Pro select: ``2:ncpus=4:ngpus=1+1:ncpus=8`` → (16, 2)."""
    procs = gpus = 0
    for chunk in text.split("+"):
        head, *options = chunk.split(":")
        count = int(head) if head.isdigit() else 1
        values = dict(option.partition("=")[::2] for option in ([head] if not head.isdigit() else []) + options)
        procs += count * int(values.get("ncpus", "1"))
        gpus += count * int(values.get("ngpus", "0"))
    return procs, gpus


class PbsTrace:
    """A Torque/PBS accounting log; iteration streams one :class:`JobRecord` per ended job."""

    def __init__(
        self, path: str | os.PathLike[str], *, duplicates: Literal["first", "last"] = "first", lenient: bool = False
    ) -> None:
        if duplicates not in ("first", "last"):
            raise ValueError(f"duplicates must be 'first' or 'last', got {duplicates!r}")
        self.path = path
        self.name = os.path.basename(os.fspath(path))
        self.duplicates = duplicates
        self.problems = Problems(lenient=lenient)
        self.duplicates_skipped = 0
        self.other_records = 0

    def __iter__(self) -> Iterator[JobRecord]:
        self.problems = Problems(lenient=self.problems.lenient)
        self.duplicates_skipped = self.other_records = 0
        seen: set[str] = set()
        kept: dict[str, JobRecord] = {}
        with open_text(self.path) as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                parts = line.rstrip("\r\n").split(";", 3)
                if len(parts) != 4:
                    self.problems.report(TraceError(self.name, number, "expected 'date;type;jobid;attributes'"))
                    continue
                if parts[1] != "E":
                    self.other_records += 1
                    continue
                job_id = parts[2].strip()
                if self.duplicates == "first" and job_id in seen:
                    self.duplicates_skipped += 1
                    continue
                try:
                    job = self._record(job_id, parts[3], number)
                except TraceError as error:
                    self.problems.report(error)
                    continue
                if self.duplicates == "first":
                    seen.add(job_id)
                    yield job
                else:
                    self.duplicates_skipped += job_id in kept
                    kept.pop(job_id, None)
                    kept[job_id] = job  # re-inserting keeps the dict in order of each id's last line
        yield from kept.values()

    def _record(self, job_id: str, message: str, number: int) -> JobRecord:
        attrs: dict[str, str] = {}
        for token in message.split():
            key, eq, value = token.partition("=")
            if not eq:
                raise TraceError(self.name, number, f"job {job_id}: attribute without '=': {token!r}")
            attrs[key] = value
        try:
            times: dict[str, float] = {}
            for key in _EPOCHS:
                if key in attrs:
                    if not attrs[key].isdigit():
                        raise ValueError(f"{key}={attrs[key]!r} is not an epoch")
                    times[key] = float(attrs[key])
            submit = times.get("qtime", times.get("ctime", times.get("etime")))
            if submit is None:
                raise ValueError("no qtime/ctime/etime: the job cannot be replayed")
            start, end = times.get("start"), times.get("end")
            used = attrs.get("resources_used.walltime")
            runtime = end - start if start is not None and end is not None else parse_duration(used) if used else None
            if runtime is not None and runtime < 0:
                raise ValueError(f"end {end:.0f} before start {start:.0f}")
            limit_text = attrs.get("Resource_List.walltime")
            limit = parse_duration(limit_text) if limit_text else None
            alloc = int(attrs["total_execution_slots"]) if "total_execution_slots" in attrs else None
            if alloc is None and attrs.get("exec_host"):
                alloc = parse_exec_host(attrs["exec_host"])
            request = self._request(attrs)
            req = request[0] if request else None
            memory = _memory(attrs, alloc if alloc is not None else req)
            exit_text = attrs.get("Exit_status")
            exit_code = int(exit_text) if exit_text is not None else None
        except ValueError as error:
            raise TraceError(self.name, number, f"job {job_id}: {error}") from None
        if exit_code is None:
            status = UNKNOWN
        elif exit_code == 0:
            status = COMPLETED
        else:
            timed_out = limit is not None and runtime is not None and runtime >= limit
            status = TIMEOUT if timed_out else FAILED
        return JobRecord(
            job_id=job_id,
            submit=submit,
            wait=start - submit if start is not None else None,
            runtime=runtime,
            procs_requested=req,
            procs_allocated=alloc,
            time_requested=limit,
            memory_gb=memory,
            gpus=request[1] if request else 0,
            status=status,
            user=attrs.get("user"),
            group=attrs.get("group"),
            queue=attrs.get("queue"),
            line=number,
        )

    @staticmethod
    def _request(attrs: dict[str, str]) -> tuple[int, int] | None:
        """Requested (procs, gpus): PBS Pro ``select``, Torque ``nodes``, then plain ``ncpus``/``procs``."""
        if "Resource_List.select" in attrs:
            return parse_select(attrs["Resource_List.select"])
        if "Resource_List.nodes" in attrs:
            return parse_nodes(attrs["Resource_List.nodes"])
        for key in ("Resource_List.ncpus", "Resource_List.procs"):
            if key in attrs:
                return int(attrs[key]), int(attrs.get("Resource_List.ngpus", "0"))
        return None


def _memory(attrs: dict[str, str], procs: int | None) -> float | None:
    """Requested GiB: ``Resource_List.mem`` is the job total, ``pmem`` is per process."""
    if "Resource_List.mem" in attrs:
        return parse_size_gb(attrs["Resource_List.mem"], default_unit="b")
    if "Resource_List.pmem" in attrs and procs is not None:
        return parse_size_gb(attrs["Resource_List.pmem"], default_unit="b") * procs
    return None


def read_pbs(
    path: str | os.PathLike[str], *, duplicates: Literal["first", "last"] = "first", lenient: bool = False
) -> Iterator[JobRecord]:
    """Stream the ended jobs of a Torque/PBS accounting log."""
    return iter(PbsTrace(path, duplicates=duplicates, lenient=lenient))
