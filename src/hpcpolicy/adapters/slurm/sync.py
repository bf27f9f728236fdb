"""``hpcpolicy slurm sync``: apply Slurm accounting to the ledger, once or on an interval with a watermark.

A pass reads ``sacct`` for a window (or a saved dump) and hands every job to the reconciler, which is
idempotent, so windows may overlap freely. The watch loop remembers the end of the last good window (the
watermark, in a small JSON file) and starts the next one ``overlap`` earlier: records slurmdbd writes
late (a job's end reported after the controller reconnects) are still seen. A failed pass (sacct or the
ledger unavailable) keeps the watermark, so the next pass covers the gap.

A live pass also asks the controller for the jobs it still has: pending and running jobs' liens are bound
and started from there (slurmdbd records the submit token only when a job ends), and the hook's reserved
liens whose job it no longer has are expired (see :mod:`.live`); jobs held in the admission queue are
released, kept informed or cancelled as the service decided (see :mod:`.releases`). A dump-file pass does none
of this.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from hpcpolicy.adapters.slurm.admission import SUBMIT_KEY_PREFIX, submit_key
from hpcpolicy.adapters.slurm.live import parse_jobs, run_squeue
from hpcpolicy.adapters.slurm.releases import Holds
from hpcpolicy.adapters.slurm.sacct import SacctReader, SlurmUnavailable, run_sacct
from hpcpolicy.ledger.base import LedgerUnavailable
from hpcpolicy.service.reconcile import Reconciler, Result


@dataclass
class SyncReport:
    since: datetime | None
    until: datetime | None
    counts: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)
    error: str | None = None
    holds: Counter[str] = field(default_factory=Counter)  # what was done to jobs held in the admission queue

    @property
    def jobs(self) -> int:
        return sum(self.counts.values())

    def summary(self) -> str:
        window = f"{_stamp(self.since)} → {_stamp(self.until)}" if self.since and self.until else "dump"
        if self.error:
            return f"sync {window}: failed: {self.error}"
        counts = ", ".join(f"{n} {result}" for result, n in sorted(self.counts.items())) or "nothing to do"
        holds = ", ".join(f"{n} {result}" for result, n in sorted(self.holds.items()))
        return f"sync {window}: {self.jobs} record(s): {counts}" + (f"; held jobs: {holds}" if holds else "")

    def to_dict(self) -> dict[str, object]:
        return {
            "since": _stamp(self.since),
            "until": _stamp(self.until),
            "jobs": self.jobs,
            "counts": dict(sorted(self.counts.items())),
            "problems": self.problems,
            "error": self.error,
            "holds": dict(sorted(self.holds.items())),
        }


def apply(
    reconciler: Reconciler,
    lines: Iterable[str],
    reader: SacctReader,
    report: SyncReport,
    settled_before: datetime | None = None,
) -> SyncReport:
    """Observe every job in ``lines``; the reader's malformed-line notes go into the report.

    A job that ended at or after ``settled_before`` is left for a later pass (counted as settling).
    """
    for job in reader.jobs(lines):
        if settled_before is not None and job.ended_at is not None and job.ended_at >= settled_before:
            report.counts[SETTLING] += 1
            continue
        report.counts[str(reconciler.observe(job))] += 1
    report.problems.extend(reader.problems)
    return report


#: Jobs too recently ended to apply yet (see ``Sources.settle``).
SETTLING = "settling"


@dataclass(frozen=True)
class Sources:
    """Where a live pass reads Slurm, and how long it waits for Slurm's records to settle.

    ``settle``: a job that ended less than this long ago is applied on a later pass. slurmdbd's record of
    a job that has just ended can be incomplete for a few seconds (seen on 22.05 under load: partition
    empty, or user root and no account while the job's start record is still queued); an unhooked job
    charged from it would be priced wrong for good. Keep the watch's overlap above it.
    ``grace``: how old a reserved lien must be before a job missing from the controller releases it
    (a job appears there the moment its submission is accepted; the grace covers clock skew).
    """

    sacct: Callable[[datetime, datetime], str] = run_sacct
    controller: Callable[[], str] | None = run_squeue
    settle: timedelta = timedelta(minutes=1)
    grace: timedelta = timedelta(minutes=5)


def sync_window(
    reconciler: Reconciler,
    since: datetime,
    until: datetime,
    reader: SacctReader,
    sources: Sources = Sources(),
    now: datetime | None = None,
    holds: Holds | None = None,
) -> SyncReport:
    """One pass over live accounting. Dependency failures are reported in ``error``, not raised.

    ``now`` (default: ``until``) dates the settling delay, so a past window is applied whole. ``holds``:
    bring jobs held in the admission queue in line with it (live passes only).
    """
    report = SyncReport(since, until)
    try:
        lines = sources.sacct(since, until).splitlines()
        apply(reconciler, lines, reader, report, (now or until) - sources.settle)
        if sources.controller is not None:
            live_pass(reconciler, reader, sources.controller, until - sources.grace, report, holds)
    except (SlurmUnavailable, LedgerUnavailable) as exc:
        report.error = str(exc)
    return report


def live_pass(
    reconciler: Reconciler,
    reader: SacctReader,
    controller: Callable[[], str],
    before: datetime,
    report: SyncReport,
    holds: Holds | None,
) -> None:
    """Bind and start the controller's jobs; expire liens, and withdraw held requests, taken ``before``
    whose job it no longer has; release, inform or cancel held jobs."""
    waiting = holds.waiting() if holds is not None else {}  # before the controller: see Holds
    live = parse_jobs(controller(), reader.cluster or "")
    for job in live.hooked:
        report.counts[str(reconciler.observe(job))] += 1
    keys = {submit_key(token) for token in live.tokens}
    expired = reconciler.release_unseen(SUBMIT_KEY_PREFIX, keys, set(live.job_ids), before)
    if expired:
        report.counts[str(Result.EXPIRED)] += expired
    if holds is not None:
        done = holds.apply(live, waiting, before)
        report.holds.update(done.counts)
        report.problems.extend(done.problems)


class Watermark:
    """The end of the last window applied without error, kept in a JSON file (written atomically)."""

    def __init__(self, path: Path):
        self.path = path

    def load(self) -> datetime | None:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            return datetime.fromisoformat(data["watermark"])
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{self.path}: unreadable sync state ({exc}); fix or delete it") from None

    def save(self, moment: datetime) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.")
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump({"watermark": moment.isoformat()}, out)
        os.replace(tmp, self.path)


def watch(
    reconciler: Reconciler,
    reader_for: Callable[[], SacctReader],
    state: Watermark,
    *,
    first_since: datetime,
    overlap: timedelta,
    clock: Callable[[], datetime],
    wait: Callable[[], bool],
    report: Callable[[SyncReport], None],
    sources: Sources = Sources(),
    holds: Holds | None = None,
) -> None:
    """Pass after pass until ``wait()`` (the pause between passes) returns False.

    The first window starts at ``first_since``; each later one ``overlap`` before the end of the last
    good one. A failed pass leaves the start where it was, so the next pass covers the gap.
    """
    since = first_since
    while True:
        until = clock()
        result = sync_window(reconciler, since, until, reader_for(), sources, holds=holds)
        if result.error is None:
            state.save(until)
            since = until - overlap
        report(result)
        if not wait():
            return


def exit_worthy(report: SyncReport) -> bool:
    """A one-shot sync fails when it could not run, or when the ledger disagrees with Slurm on a job."""
    return report.error is not None or report.counts[str(Result.CONFLICT)] > 0


def _stamp(moment: datetime | None) -> str | None:
    return moment.isoformat(timespec="seconds") if moment is not None else None
