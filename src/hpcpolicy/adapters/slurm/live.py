"""The jobs slurmctld has not finished with (pending, held, running), from ``squeue --all --json``.

Three uses in a live sync. Binding: slurmdbd records a job's admin comment only when the job ends, so the
submit token of a pending or running job is read from the controller, and its lien is bound (and started)
while the job runs rather than when it ends. Releasing: a lien whose job the controller no longer has
(cancelled while held, so never in a ``sacct`` window, or refused by Slurm after the submit hook) need not
wait for its TTL. Holding: jobs the admission queue holds (:mod:`.hold_marks`) are listed with what the sync
needs to release, update or cancel them (reason, priority, comments; 22.05's plain numbers and later
releases' ``{"set", "number"}`` objects alike). Jobs in a final state are not alive: those that ran are
settled from ``sacct``; an unknown state counts as alive.

JSON rather than ``scontrol -o show job``: that one-line format cannot be split safely, since a user's
job name or comment may itself contain ``AdminComment=hpcpolicy:<someone else's token>``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from hpcpolicy.adapters.slurm.admission import submit_key, token_of
from hpcpolicy.adapters.slurm.hold_marks import clean, queued_hold
from hpcpolicy.adapters.slurm.sacct import SlurmUnavailable
from hpcpolicy.ledger import JobUsage
from hpcpolicy.service.reconcile import ObservedJob, Phase

_FINAL = frozenset({
    "COMPLETED", "CANCELLED", "FAILED", "TIMEOUT", "NODE_FAIL", "PREEMPTED", "BOOT_FAIL", "DEADLINE",
    "OUT_OF_MEMORY", "REVOKED",
})  # fmt: skip
_WAITING = frozenset({"PENDING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED"})
_JOB_ID = re.compile(r"[0-9]{1,12}")


@dataclass(frozen=True, slots=True)
class HeldJob:
    """A pending job with a submit token that the admission queue holds (:func:`.held.queued_hold`; its
    queue entry says whether it still waits). ``held``: on hold, or its priority unreadable (a release
    is then harmless); ``admin_held``: Slurm shows ``JobHeldAdmin`` (a plugin's hold shows
    ``JobHeldUser``). Comments are as :func:`.held.clean` leaves them: fit for an ``scontrol`` argument."""

    job_id: str
    token: str
    comment: str
    admin_comment: str
    held: bool
    admin_held: bool


@dataclass(frozen=True, slots=True)
class LiveJobs:
    job_ids: frozenset[str]
    tokens: frozenset[str]
    hooked: tuple[ObservedJob, ...]  # alive jobs carrying a submit token: pending or running
    held: tuple[HeldJob, ...] = ()  # pending jobs the admission queue holds


def parse_jobs(text: str, cluster: str = "") -> LiveJobs:
    """Raises :class:`SlurmUnavailable` if ``text`` is not squeue's JSON."""
    try:
        jobs = json.loads(text)["jobs"]
    except (ValueError, KeyError, TypeError) as exc:
        raise SlurmUnavailable(f"unreadable squeue --json output: {exc}") from None
    job_ids: set[str] = set()
    tokens: set[str] = set()
    hooked: list[ObservedJob] = []
    held: list[HeldJob] = []
    for job in jobs:
        if not isinstance(job, Mapping) or job.get("job_id") is None or _state(job.get("job_state")) in _FINAL:
            continue
        job_id = str(job["job_id"])
        job_ids.add(job_id)
        admin_comment = job.get("admin_comment")
        token = token_of(admin_comment if isinstance(admin_comment, str) else None)
        if token is None:
            continue
        tokens.add(token)
        hooked.append(_observed(job, job_id, token, cluster))
        if _state(job.get("job_state")) == "PENDING" and _JOB_ID.fullmatch(job_id):
            held.extend(_held(job, job_id, token))
    return LiveJobs(frozenset(job_ids), frozenset(tokens), tuple(hooked), tuple(held))


def _observed(job: Mapping[str, Any], job_id: str, token: str, cluster: str) -> ObservedJob:
    running = _state(job.get("job_state")) not in _WAITING
    start = job.get("start_time")
    return ObservedJob(
        job_id=job_id,
        cluster=cluster,
        user=str(job.get("user_name") or ""),
        account=job.get("account") or None,
        partition=job.get("partition") or None,
        phase=Phase.RUNNING if running else Phase.PENDING,
        usage=JobUsage(0.0),
        started_at=datetime.fromtimestamp(start, UTC) if running and isinstance(start, int) and start else None,
        lien_key=submit_key(token),
    )


def _held(job: Mapping[str, Any], job_id: str, token: str) -> list[HeldJob]:
    """The pending job as a held one, if the admission queue holds it."""
    priority, reason = _number(job.get("priority")), job.get("state_reason")
    on_hold = priority == 0 or reason in ("JobHeldAdmin", "JobHeldUser")
    admin_comment, comment = clean(job.get("admin_comment")), clean(job.get("comment"))
    if not queued_hold(admin_comment, comment, on_hold):
        return []
    return [HeldJob(job_id, token, comment, admin_comment, held=on_hold or priority is None,
                    admin_held=reason == "JobHeldAdmin")]  # fmt: skip


def _number(value: Any) -> int | None:
    """22.05 gives a number; later releases ``{"set": true, "infinite": false, "number": 0}``."""
    if isinstance(value, Mapping):
        if not value.get("set", True) or value.get("infinite"):
            return None
        value = value.get("number")
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _state(value: Any) -> str:
    """22.05 gives a string; later releases a list of flags (the first is the base state)."""
    if isinstance(value, list):
        value = value[0] if value else ""
    return str(value or "").upper()


def run_squeue(squeue: str = "squeue", timeout: float = 60) -> str:
    """``squeue --all --json``; raises :class:`SlurmUnavailable` (controller unreachable) with its message."""
    try:
        done = subprocess.run([squeue, "--all", "--json"], env=os.environ, capture_output=True, text=True,
                              timeout=timeout)  # fmt: skip
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SlurmUnavailable(f"cannot run squeue: {exc}") from exc
    if done.returncode != 0:
        raise SlurmUnavailable(f"squeue failed (exit {done.returncode}): {done.stderr.strip()[:500]}")
    return done.stdout
