"""The one job record every trace reader produces, so the simulator never sees a trace format.

Fields are ``None`` when the trace does not know them (SWF ``-1``, sacct ``Unknown``, a missing PBS key):
an unknown value must stay distinguishable from a real zero, or a replay would invent data.
"""

from __future__ import annotations

from dataclasses import dataclass

COMPLETED = "completed"
FAILED = "failed"
CANCELLED = "cancelled"
TIMEOUT = "timeout"
OUT_OF_MEMORY = "out_of_memory"
NODE_FAIL = "node_fail"
PREEMPTED = "preempted"
PARTIAL = "partial"  # SWF status 2: one slice of a checkpointed/swapped job, more slices follow
RUNNING = "running"
PENDING = "pending"
UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class JobRecord:
    """One job as a trace saw it; times are seconds (epoch or trace-relative, as the trace gives them).

    ``wait`` is start − submit and ``runtime`` is end − start (the wall time the job held its
    processors). ``memory_gb`` is the *requested* memory for the whole job in GiB, because that is what
    an admission policy sees at submit time. ``line`` is the 1-based line of the trace the record
    came from, so a surprising simulation result can be traced back to its input.
    """

    job_id: str
    submit: float
    wait: float | None = None
    runtime: float | None = None
    procs_requested: int | None = None
    procs_allocated: int | None = None
    time_requested: float | None = None
    memory_gb: float | None = None
    gpus: int = 0
    status: str = UNKNOWN
    user: str | None = None
    group: str | None = None
    queue: str | None = None
    partition: str | None = None
    line: int = 0

    @property
    def procs(self) -> int | None:
        """Processors the job occupied: allocated when the trace knows it, else what it asked for."""
        return self.procs_allocated if self.procs_allocated is not None else self.procs_requested

    @property
    def start(self) -> float | None:
        """Start time, when the wait is known."""
        return None if self.wait is None else self.submit + self.wait
