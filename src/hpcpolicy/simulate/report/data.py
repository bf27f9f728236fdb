"""The report as plain data (the JSON output, and what the HTML page is drawn from).

Times in series and burn-down points are UTC epoch seconds; dates elsewhere are ISO 8601. Durations
are seconds. ``runs`` holds one entry per variant (two with ``--compare``), in the order given.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ..clock import TraceClock
from ..metrics import percentile, summarize, waits
from ..run import RunResult
from ..source import Trace
from .fairness import fairness_data
from .series import time_series, wait_histogram

FORMAT_VERSION = 1
_EXAMPLES = 5


def report_data(trace: Trace, results: list[RunResult], clock: TraceClock) -> dict[str, Any]:
    return {
        "report": "hpcpolicy simulate",
        "format_version": FORMAT_VERSION,
        "trace": trace_data(trace, clock),
        "runs": [run_data(result, clock) for result in results],
    }


def trace_data(trace: Trace, clock: TraceClock) -> dict[str, Any]:
    first = trace.jobs[0].sim.submit if trace.jobs else None
    last = trace.jobs[-1].sim.submit if trace.jobs else None
    return {
        "path": trace.path,
        "format": trace.format,
        "records": trace.records,
        "jobs": len(trace.jobs),
        "header_capacity": trace.capacity,
        "first_submit": _iso(clock, first),
        "last_submit": _iso(clock, last),
        "dropped": dict(trace.dropped),
        "dropped_examples": trace.dropped_examples,
        "malformed_lines_skipped": trace.problems.skipped,
        "malformed_examples": trace.problems.messages,
        "sorted_by_submit": not trace.reordered,
        "renamed_duplicate_ids": trace.renamed,
        "reader_notes": trace.notes,
    }


def run_data(result: RunResult, clock: TraceClock) -> dict[str, Any]:
    schedule, variant = result.schedule, result.variant
    metrics = summarize(schedule)
    wait = waits(schedule)
    series = time_series(schedule)
    policy = variant.policy
    return {
        "label": variant.label,
        "scheduler": variant.scheduler,
        "queue": variant.queue and policy is not None,
        "policy": {"version": policy.version, "file": variant.source} if policy is not None else None,
        "capacity": result.capacity,
        "kill_at_limit": result.kill_at_limit,
        "scheduling": {
            "jobs_run": metrics.jobs,
            "jobs_skipped": len(schedule.skipped),
            "skipped_examples": [f"job {s.job.id}: {s.reason}" for s in schedule.skipped[:_EXAMPLES]],
            "jobs_cut_at_limit": schedule.truncated,
            "mean_wait_s": metrics.mean_wait,
            "median_wait_s": metrics.median_wait,
            "p90_wait_s": percentile(wait, 90.0),
            "max_wait_s": max(wait, default=0.0),
            "mean_bounded_slowdown": metrics.mean_bounded_slowdown,
            "p95_bounded_slowdown": metrics.p95_bounded_slowdown,
            "utilization": metrics.utilization,
            "makespan_s": metrics.makespan,
        },
        "governance": result.tally.to_dict() if result.tally is not None else None,
        "fairness": fairness_data(result, clock.epoch),
        "series": {
            "bucket_s": series.width,
            "time": [clock.epoch + t for t in series.times],
            "queue_length": series.queue_length,
            "utilization": series.utilization,
        },
        "wait_histogram": [{"bin": label, "jobs": count} for label, count in wait_histogram(schedule)],
    }


def _iso(clock: TraceClock, t: float | None) -> str | None:
    return None if t is None else datetime.fromtimestamp(clock.epoch + t, UTC).isoformat()
