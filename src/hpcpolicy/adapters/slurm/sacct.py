"""Slurm accounting (``sacct --parsable2``) → :class:`ObservedJob` records for the reconciler.

Reads live ``sacct`` output or a saved dump. Columns come from the header line (``--parsable2`` prints
one) or from ``columns=`` for ``--noheader`` dumps. Job steps (``123.batch``, ``123.0``) are skipped:
the allocation line holds what the job was given. The job id is ``JobIDRaw`` when present (unique per
array task), else ``JobID``.

Usage is the allocation: ``AllocTRES`` (``cpu=``, ``mem=``, ``gres/gpu=``, ``gres/gpu:a100=``) times
``ElapsedRaw`` seconds; dumps without them fall back to ``NCPUS``/``AllocCPUS``, ``ReqMem`` and
``Elapsed`` or End − Start. Timestamps carry no zone; the sync runs ``sacct`` with ``TZ=UTC`` and reads
dumps in the zone given (UTC by default).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo

from hpcpolicy.adapters.slurm.admission import submit_key, token_of
from hpcpolicy.adapters.traces.sacct import parsable2_lines, parse_reqmem, parse_timestamp, parse_tres, tres_gpus
from hpcpolicy.adapters.traces.units import parse_duration, parse_size_gb
from hpcpolicy.ledger import JobUsage
from hpcpolicy.service.reconcile import ObservedJob, Phase

FORMAT = (
    "JobID", "JobIDRaw", "Cluster", "User", "Account", "Partition", "QOS", "State",
    "Submit", "Start", "End", "ElapsedRaw", "AllocTRES", "NNodes", "AdminComment",
)  # fmt: skip
_PHASES = {
    "PENDING": Phase.PENDING, "REQUEUED": Phase.PENDING, "REQUEUE_HOLD": Phase.PENDING,
    "REQUEUE_FED": Phase.PENDING, "RUNNING": Phase.RUNNING, "COMPLETING": Phase.RUNNING,
    "SUSPENDED": Phase.RUNNING, "RESIZING": Phase.RUNNING, "COMPLETED": Phase.COMPLETED,
    "TIMEOUT": Phase.COMPLETED, "FAILED": Phase.FAILED, "NODE_FAIL": Phase.FAILED,
    "OUT_OF_MEMORY": Phase.FAILED, "BOOT_FAIL": Phase.FAILED, "DEADLINE": Phase.FAILED,
    "CANCELLED": Phase.CANCELLED, "PREEMPTED": Phase.CANCELLED, "REVOKED": Phase.CANCELLED,
}  # fmt: skip


class SlurmUnavailable(RuntimeError):
    """A Slurm command (sacct, squeue) could not be run or failed (daemon down, not installed): nothing read."""


#: Every state, named: sacct then selects the jobs pending or running during the window and those that
#: ended in it, which is exactly what a sync applies (its default rule is "eligible during the window").
STATES = "PD,R,S,RQ,RS,CD,F,CA,TO,NF,OOM,PR,BF,DL,RV"


def sacct_command(since: datetime, until: datetime, sacct: str = "sacct") -> list[str]:
    """All users' allocations (no steps) that were pending, running or ended in ``[since, until]``."""
    stamp = "%Y-%m-%dT%H:%M:%S"
    return [
        sacct, "--allusers", "--allocations", "--parsable2", "--format=" + ",".join(FORMAT), "--state", STATES,
        "--starttime", since.astimezone(UTC).strftime(stamp), "--endtime", until.astimezone(UTC).strftime(stamp),
    ]  # fmt: skip


def run_sacct(since: datetime, until: datetime, *, sacct: str = "sacct", timeout: float = 120) -> str:
    """sacct's output for the window, in UTC. Raises :class:`SlurmUnavailable` with sacct's own message."""
    env = os.environ | {"TZ": "UTC"}
    try:
        done = subprocess.run(
            sacct_command(since, until, sacct), env=env, capture_output=True, text=True, timeout=timeout
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SlurmUnavailable(f"cannot run sacct: {exc}") from exc
    if done.returncode != 0:
        raise SlurmUnavailable(f"sacct failed (exit {done.returncode}): {done.stderr.strip()[:500]}")
    if not done.stdout.strip():  # the header line is always printed: nothing at all is a failure
        raise SlurmUnavailable(f"sacct printed nothing: {done.stderr.strip()[:500] or 'no error given'}")
    return done.stdout


@dataclass
class SacctReader:
    """Parses lines into jobs; malformed lines are skipped and described in ``problems``."""

    cluster: str | None = None
    columns: Sequence[str] | None = None
    tz: tzinfo = UTC
    problems: list[str] = field(default_factory=list)

    def jobs(self, lines: Iterable[str]) -> Iterator[ObservedJob]:
        for number, columns, fields in parsable2_lines(lines, self.columns):
            if columns is None or len(fields) != len(columns):
                expected = "a header line or columns=" if columns is None else f"{len(columns)} fields"
                self.problems.append(f"line {number}: expected {expected}, got {len(fields)} fields")
                continue
            row = dict(zip(columns, fields, strict=True))
            if "." in row.get("jobid", ""):
                continue  # a step: its allocation line carries the job
            try:
                yield self._job(row)
            except ValueError as exc:
                self.problems.append(f"line {number}: {exc}")

    def _job(self, row: dict[str, str]) -> ObservedJob:
        get = row.get
        job_id = (get("jobidraw") or get("jobid") or "").strip()
        user = (get("user") or "").strip()
        cluster = self.cluster or (get("cluster") or "").strip()
        if not job_id or not user or not cluster:
            missing = "job id" if not job_id else "user" if not user else "cluster (pass --cluster)"
            raise ValueError(f"job {job_id or '?'}: no {missing}")
        state = (get("state") or "").split(" ")[0].rstrip("+").upper()
        phase = _PHASES.get(state)
        if phase is None:
            raise ValueError(f"job {job_id}: unknown state {get('state')!r}")
        start, end = self._time(get("start")), self._time(get("end"))
        tres = parse_tres(get("alloctres") or "")
        nodes = _int(tres.get("node") or get("nnodes"))
        cpus = _int(tres.get("cpu") or get("ncpus") or get("alloccpus"))
        typed = [key.split(":", 1)[1] for key in tres if key.startswith("gres/gpu:")]
        try:
            memory = parse_size_gb(tres["mem"]) if "mem" in tres else _reqmem(get("reqmem"), nodes, cpus)
            seconds = _elapsed(row, start, end)
        except ValueError as exc:
            raise ValueError(f"job {job_id}: {exc}") from None
        return ObservedJob(
            job_id=job_id,
            cluster=cluster,
            user=user,
            account=(get("account") or "").strip() or None,
            partition=(get("partition") or "").strip() or None,
            phase=phase,
            # None where the record does not say: the reconciler then takes the lien's (requested) value
            usage=JobUsage(seconds / 3600.0 if phase.ended else 0.0, cpus, tres_gpus(tres) if tres else None, memory),
            started_at=start,
            ended_at=end if phase.ended else None,
            gpu_type=typed[0] if len(typed) == 1 else None,
            lien_key=submit_key(token) if (token := token_of(get("admincomment"))) else None,
        )

    def _time(self, text: str | None) -> datetime | None:
        epoch = parse_timestamp(text or "", self.tz)
        return datetime.fromtimestamp(epoch, UTC) if epoch is not None else None


def _int(text: str | None) -> int | None:
    return int(text) if text and text.strip().isdigit() else None


def _reqmem(text: str | None, nodes: int | None, cpus: int | None) -> float | None:
    return parse_reqmem(text, nodes, cpus) if text and text.strip() else None


def _elapsed(row: dict[str, str], start: datetime | None, end: datetime | None) -> float:
    """Seconds the allocation was held: ElapsedRaw, else Elapsed, else End − Start; 0 if it never started."""
    if (raw := row.get("elapsedraw", "").strip()).isdigit():
        return float(raw)
    if row.get("elapsed", "").strip():
        return parse_duration(row["elapsed"])
    if start is not None and end is not None:
        return max((end - start).total_seconds(), 0.0)
    return 0.0
