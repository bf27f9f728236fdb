"""What both models do with each arriving job before queueing it: check order, size, and effective runtime.

A job larger than the machine would block a FIFO queue forever, so it is reported in
``Schedule.skipped`` instead. Unsorted input is an error rather than silently sorted, because
sorting needs the whole trace in memory and the caller (which knows the trace) should decide.

The check is a separate step (:class:`Intake`) so that a policy replay can reject an impossible job
*before* asking the policy about it, and enqueue the job only once the policy has admitted it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from ..workload import Schedule, SimJob, Skipped

Entry = tuple[int, float, int, float, float, SimJob]
"""A queued job: (seq, queued, procs, requested, run, job) — seq is the arrival rank, ``queued`` when it joined
the queue (its submit time, or when the replay's admission queue released it: :meth:`Intake.requeue`), run
the simulated duration. Placements take the submit time from the job, so a job's wait counts from submit."""


class Intake:
    """Turns arriving jobs into queue entries for one schedule, in submit order.

    The requested time falls back to the runtime when unknown (≤ 0 counts as unknown). With
    ``kill_at_limit`` a job runs ``min(runtime, requested)``, as a real scheduler kills it at its
    limit; that is what makes EASY's reservation a guarantee.
    """

    __slots__ = ("capacity", "kill_at_limit", "last", "schedule", "seq")

    def __init__(self, schedule: Schedule, kill_at_limit: bool) -> None:
        if schedule.capacity < 1:
            raise ValueError(f"capacity must be at least 1 processor, got {schedule.capacity}")
        self.schedule = schedule
        self.capacity = schedule.capacity
        self.kill_at_limit = kill_at_limit
        self.last = float("-inf")
        self.seq = 0

    def entry(self, job: SimJob) -> Entry | None:
        """The queue entry for ``job``, or None after recording it in ``schedule.skipped``."""
        submit, runtime, procs, requested = job.submit, job.runtime, job.procs, job.requested
        if submit < self.last:
            raise ValueError(
                f"jobs must be sorted by submit time: job {job.id} submits at {submit} after {self.last}; "
                "sort them first, e.g. sorted(jobs, key=lambda job: job.submit)"
            )
        self.last = submit
        if procs > self.capacity:
            self.schedule.skipped.append(Skipped(job, f"needs {procs} processors, the machine has {self.capacity}"))
            return None
        if procs < 1 or not runtime >= 0:
            self.schedule.skipped.append(Skipped(job, "needs at least 1 processor and a non-negative runtime"))
            return None
        if requested is None or not requested > 0:
            requested = runtime
        elif self.kill_at_limit and runtime > requested:
            runtime = requested  # counted in ``schedule.truncated`` when the job is enqueued
        self.seq += 1
        return self.seq, submit, procs, requested, runtime, job

    def requeue(self, entry: Entry, now: float) -> Entry:
        """``entry`` joining the queue at ``now`` instead of at its submit (held, then admitted): a new arrival
        rank, so that queue order stays the order jobs joined it."""
        _seq, _queued, procs, requested, run, job = entry
        self.seq += 1
        return self.seq, now, procs, requested, run, job


def admitted(jobs: Iterable[SimJob], schedule: Schedule, kill_at_limit: bool) -> Iterator[Entry]:
    """Yield queue entries in submit order; skip impossible jobs into ``schedule.skipped``."""
    intake = Intake(schedule, kill_at_limit)
    entry = intake.entry
    for job in jobs:
        queued = entry(job)
        if queued is not None:
            yield queued


class Queues:
    """What every model does on arrival: check the job (:class:`Intake`), then queue it (``enqueue``)."""

    intake: Intake

    def enqueue(self, entry: Entry) -> None:
        raise NotImplementedError

    def submit(self, job: SimJob) -> bool:
        """Check and enqueue ``job``; False when it was skipped (see :class:`Intake`)."""
        entry = self.intake.entry(job)
        if entry is None:
            return False
        self.enqueue(entry)
        return True
