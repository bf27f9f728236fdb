"""Standard Workload Format reader (Parallel Workloads Archive): 18 numeric fields per job, ``;`` headers.

Field order (1-based): 1 job id, 2 submit, 3 wait, 4 run time, 5 allocated processors, 6 average CPU
time, 7 used memory, 8 requested processors, 9 requested time, 10 requested memory (KB per processor),
11 status, 12 user, 13 group, 14 executable, 15 queue, 16 partition, 17 preceding job, 18 think time.
``-1`` means unknown and becomes ``None`` (any negative value is treated the same: a few raw logs use
other negatives for "unknown"). Only the fields a replay uses are checked to be numbers; identifiers
(user, group, queue, partition) are kept as the text the trace wrote. The header is exposed because
the machine size — the capacity a replay needs — lives only there (``MaxProcs``, else ``MaxNodes``).

Some third-party conversions misplace fields; the caller says so explicitly rather than having the
reader guess: ``SwfTrace(path, requested_time_field=6)`` for the ALCF Theta conversion, which stores
the requested walltime in field 6.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator

from .errors import Problems, TraceError
from .record import CANCELLED, COMPLETED, FAILED, PARTIAL, UNKNOWN, JobRecord
from .units import open_text

FIELDS = 18
# SWF 2.2: 1 completed, 0 failed, 5 cancelled; 2-4 describe slices of checkpointed/swapped jobs.
STATUS = {1: COMPLETED, 0: FAILED, 5: CANCELLED, 2: PARTIAL, 3: COMPLETED, 4: FAILED, -1: UNKNOWN}
_KEY = re.compile(r";\s{0,2}([A-Za-z]\w*):(?!//)\s*(.*)")
_NAMES = (
    "job id", "submit time", "wait time", "run time", "allocated processors", "average CPU time", "used memory",
    "requested processors", "requested time", "requested memory", "status", "user id", "group id", "executable",
    "queue", "partition", "preceding job", "think time",
)  # fmt: skip


def parse_header(lines: Iterator[str]) -> dict[str, str]:
    """``; Key: value`` comment lines at the top of a trace → dict; repeats and continuations join with newlines."""
    header: dict[str, str] = {}
    last: str | None = None
    for raw in lines:
        line = raw.strip()
        if not line.startswith(";"):
            break
        match = _KEY.match(line)
        if match:
            last, value = match.group(1), match.group(2).strip()
            header[last] = f"{header[last]}\n{value}" if last in header else value
        elif last is not None and line[1:].strip():
            header[last] += "\n" + line[1:].strip()
        else:
            last = None  # a bare ";" ends a continuation
    return header


def _int_or_none(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


class SwfTrace:
    """An SWF file: ``.header`` is read at construction, iteration streams :class:`JobRecord` objects.

    ``lenient=True`` skips malformed lines instead of raising; ``.problems`` tallies them for the last
    iteration. Queue numbers are translated to names when the header lists them (``; Queue: 1 batch``).
    """

    def __init__(self, path: str | os.PathLike[str], *, requested_time_field: int = 9, lenient: bool = False) -> None:
        if not 3 <= requested_time_field <= FIELDS:
            raise ValueError(f"requested_time_field must be a field number 3..{FIELDS}, got {requested_time_field}")
        self.path = path
        self.name = os.path.basename(os.fspath(path))
        self.requested_time_field = requested_time_field
        self.problems = Problems(lenient=lenient)
        with open_text(path) as handle:
            self.header = parse_header(iter(handle))
        self.queue_names: dict[str, str] = {}
        for entry in self.header.get("Queue", "").splitlines():
            number, _, name = entry.strip().partition(" ")
            if name.strip():
                self.queue_names[number] = name.strip()

    @property
    def max_procs(self) -> int | None:
        """``MaxProcs`` from the header, if present."""
        return _int_or_none(self.header.get("MaxProcs"))

    @property
    def max_nodes(self) -> int | None:
        """``MaxNodes`` from the header, if present."""
        return _int_or_none(self.header.get("MaxNodes"))

    @property
    def unix_start_time(self) -> int | None:
        """Epoch of submit time 0, for traces whose times are relative (most PWA logs)."""
        return _int_or_none(self.header.get("UnixStartTime"))

    @property
    def capacity(self) -> int | None:
        """Processors of the machine: ``MaxProcs``, else ``MaxNodes`` (the synthetic lublin logs give only nodes)."""
        return self.max_procs if self.max_procs is not None else self.max_nodes

    def __iter__(self) -> Iterator[JobRecord]:
        self.problems = Problems(lenient=self.problems.lenient)
        with open_text(self.path) as handle:
            for number, line in enumerate(handle, start=1):
                fields = line.split()
                if not fields or fields[0].startswith(";"):
                    continue
                try:
                    yield self._record(fields, number)
                except TraceError as error:
                    self.problems.report(error)

    def _record(self, f: list[str], number: int) -> JobRecord:
        if len(f) != FIELDS:
            raise TraceError(self.name, number, f"expected {FIELDS} fields, got {len(f)}")
        col = self.requested_time_field - 1
        try:
            submit, wait, run, alloc = float(f[1]), float(f[2]), float(f[3]), float(f[4])
            req, req_time, req_mem, status = float(f[7]), float(f[col]), float(f[9]), float(f[10])
        except ValueError:
            bad = next(i for i in (1, 2, 3, 4, 7, col, 9, 10) if not _is_number(f[i]))
            raise TraceError(self.name, number, f"field {bad + 1} ({_NAMES[bad]}): not a number: {f[bad]!r}") from None
        if submit < 0:
            raise TraceError(self.name, number, "submit time unknown (-1): the job cannot be replayed")
        code = int(status)
        if code not in STATUS:
            raise TraceError(self.name, number, f"field 11 (status): unknown status code {f[10]}")
        procs_alloc = int(alloc) if alloc > 0 else None
        procs_req = int(req) if req > 0 else None
        procs = procs_alloc if procs_alloc is not None else procs_req
        queue = None if f[14][0] == "-" else f[14]
        return JobRecord(
            job_id=f[0],
            submit=submit,
            wait=wait if wait >= 0 else None,
            runtime=run if run >= 0 else None,
            procs_requested=procs_req,
            procs_allocated=procs_alloc,
            time_requested=req_time if req_time >= 0 else None,
            memory_gb=req_mem * procs / 1024.0**2 if req_mem >= 0 and procs is not None else None,
            status=STATUS[code],
            user=None if f[11][0] == "-" else f[11],
            group=None if f[12][0] == "-" else f[12],
            queue=self.queue_names.get(queue, queue) if queue is not None else None,
            partition=None if f[15][0] == "-" else f[15],
            line=number,
        )


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def read_swf(
    path: str | os.PathLike[str], *, requested_time_field: int = 9, lenient: bool = False
) -> Iterator[JobRecord]:
    """Stream the jobs of an SWF file when the header is not needed."""
    return iter(SwfTrace(path, requested_time_field=requested_time_field, lenient=lenient))
