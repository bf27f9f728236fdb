"""Small traces and policies for replay tests, built in code so each test shows its whole input."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hpcpolicy.adapters.traces import Problems
from hpcpolicy.policy import LoadedPolicy, parse_policy
from hpcpolicy.simulate.clock import TraceClock
from hpcpolicy.simulate.run import Options, RunResult, Variant, run_variant
from hpcpolicy.simulate.source import Trace, TraceJob
from hpcpolicy.simulate.workload import SimJob
from tests.builders import PolicyBuilder

#: Trace time 0 is 2024-01-01 00:00 UTC in these tests.
EPOCH = datetime(2024, 1, 1, tzinfo=UTC)
HOUR = 3600.0
DAY = 86400.0

Job = tuple[str, float, float, int, float | None]  # (id, submit, runtime, procs, requested) in seconds


def trace_of(*jobs: Job, user: str = "1", group: str = "7") -> Trace:
    """A trace whose jobs all belong to trace user ``user`` and group ``group`` (unless overridden)."""
    rows = [
        TraceJob(SimJob(id, submit, runtime, procs, requested), user, group, None, None, 0, None, index + 1)
        for index, (id, submit, runtime, procs, requested) in enumerate(jobs)
    ]
    return Trace("test.swf", "swf", rows, None, EPOCH.timestamp(), len(rows), Problems())


def trace_by(*jobs: tuple[str, float, float, int, float | None, str]) -> Trace:
    """A trace of jobs ``(id, submit, runtime, procs, requested, trace user)``, all in trace group 7."""
    rows = [
        TraceJob(SimJob(id, submit, runtime, procs, requested), user, "7", None, None, 0, None, index + 1)
        for index, (id, submit, runtime, procs, requested, user) in enumerate(jobs)
    ]
    return Trace("test.swf", "swf", rows, None, EPOCH.timestamp(), len(rows), Problems())


def base() -> PolicyBuilder:
    """The builder's base policy with project ``g7`` and its member ``u1`` (trace group 7, trace user 1)."""
    return PolicyBuilder().project("g7").user("u1", projects=["g7"])


def policy(builder: PolicyBuilder) -> LoadedPolicy:
    """The builder's policy, loaded as a file would be."""
    return parse_policy(builder.yaml(), env={})


def run(
    trace: Trace,
    loaded: LoadedPolicy | None,
    scheduler: str = "fifo",
    capacity: int = 4,
    ttl_hours: float = 24,
    queue: bool = False,
) -> RunResult:
    options = Options(capacity, TraceClock(trace.epoch), lien_ttl=timedelta(hours=ttl_hours))
    return run_variant(trace, Variant(scheduler, loaded, queue=queue), options)


def starts(result: RunResult) -> dict[str, float]:
    return {p.id: p.start for p in result.schedule.placements}
