"""The sync's side of held Slurm jobs: release what the service admitted, cancel what it refused.

The submit hook accepts a job over a concurrency cap held, its request waiting in the admission queue under
the job's submit key; the service's dispatcher later admits it (writing its lien under that same key), or
denies or expires it, or its owner withdraws it. Slurm is told by the live pass of ``hpcpolicy slurm sync``:

- *admitted*: the hold mark is cleared, ``scontrol release``, then the user's own comment is put back
  (until then the waiting status shows a release not finished: the next pass does it). The lien is bound
  by the ordinary path: the job's token names it. Releases go in the order the service admitted the jobs,
  which is its fair-share order;
- *still queued*: the comment follows the job's position, and a plugin's hold (``JobHeldUser``) becomes
  an administrator's hold (``JobHeldAdmin``), so ``squeue`` gives the honest reason;
- *denied, expired, cancelled*: the comment says why and the job is cancelled (``scancel``);
- a queued entry from Slurm whose job the controller no longer has (its user cancelled it) is withdrawn
  from the queue, so it never takes a slot. The queue is read *before* the controller: an entry's job is
  created while the hook holds slurmctld's job lock, so any entry read first has its job in the listing
  that follows (unless Slurm refused the job after the hook, when it is gone for good).

Commands are argv lists (no shell); a failed one is reported and tried again on the next pass, which
finds the job as it left it.
"""

from __future__ import annotations

import os
import subprocess
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any

from hpcpolicy.adapters.slurm.admission import SUBMIT_KEY_PREFIX, submit_key
from hpcpolicy.adapters.slurm.hold_marks import (
    compose,
    marked,
    own_part,
    refused_status,
    violation_codes,
    waiting_status,
    without_mark,
)
from hpcpolicy.adapters.slurm.live import HeldJob, LiveJobs
from hpcpolicy.ledger.queue import QueuedRequest, QueueState
from hpcpolicy.service import Governance
from hpcpolicy.service.queue_view import Standing

#: Held requests read per pass to rank them (the queue's own bound on one user is 1000 by default).
MAX_WAITING = 1_000_000


class CommandFailed(RuntimeError):
    """``scontrol`` or ``scancel`` failed for one job; the next pass tries again."""


Control = Callable[[Sequence[str]], None]


@dataclass
class HoldPass:
    """What one pass did to held jobs (``released``, ``refused``, ``updated``, ``waiting``, ``withdrawn``,
    ``failed``) and the failures, one line each."""

    counts: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)


def run_control(argv: Sequence[str], timeout: float = 30) -> None:
    """Run a Slurm command (``SLURM_CONF`` from the environment); raise :class:`CommandFailed` on failure."""
    try:
        done = subprocess.run(list(argv), env=os.environ, capture_output=True, text=True, timeout=timeout)
    except (OSError, ValueError, subprocess.TimeoutExpired) as exc:
        raise CommandFailed(f"cannot run {argv[0]}: {exc}") from exc
    if done.returncode != 0:
        raise CommandFailed(f"{' '.join(argv[:2])} failed (exit {done.returncode}): {done.stderr.strip()[:300]}")


class Holds:
    """Brings held Slurm jobs in line with their queue entries; one instance per sync (cluster)."""

    def __init__(self, gov: Governance, control: Control = run_control, *, cluster: str | None = None,
                 actor: str = "local:slurm-sync"):  # fmt: skip
        self.gov = gov
        self.control = control
        self.cluster = cluster
        self.actor = actor

    def waiting(self) -> dict[str, Standing]:
        """The requests held now, by key, each with its position (read before the controller is)."""
        return {s.entry.key: s for s in self.gov.queue.waiting(limit=MAX_WAITING) if s.entry.key}

    def apply(self, live: LiveJobs, waiting: Mapping[str, Standing], before: datetime) -> HoldPass:
        """One pass over ``live``'s held jobs and the Slurm entries of ``waiting``.

        ``before``: only entries held before then are withdrawn for want of a job (the sync's grace)."""
        done = HoldPass()
        admitted: list[tuple[QueuedRequest, HeldJob]] = []
        for job in live.held:
            standing = waiting.get(submit_key(job.token))
            entry = standing.entry if standing is not None else self._resolved(job.token)
            if entry is None:
                continue  # no queue entry: a hold this sync does not own, or one that arrived after the read
            if entry.state is QueueState.ADMITTED:
                admitted.append((entry, job))
            elif entry.state is QueueState.QUEUED and standing is not None:
                self._attempt(partial(self._keep_waiting, job, entry, standing), job, done)
            elif entry.state is not QueueState.QUEUED:
                self._attempt(partial(self._refuse, job, entry, done), job, done)
        admitted.sort(key=lambda pair: (pair[0].resolved_at or pair[0].at, pair[0].seq))
        for _, job in admitted:
            self._attempt(partial(self._release, job, done), job, done)
        if withdrawn := self._withdraw_gone(live, waiting, before):
            done.counts["withdrawn"] += withdrawn
        return done

    def _resolved(self, token: str) -> QueuedRequest | None:
        with self.gov.ctx.ledger.session() as tx:
            return tx.find_queued(submit_key(token))

    def _attempt(self, act: Callable[[], str], job: HeldJob, done: HoldPass) -> None:
        try:
            done.counts[act()] += 1
        except CommandFailed as exc:
            done.counts["failed"] += 1
            done.problems.append(f"held job {job.job_id}: {exc}")

    def _keep_waiting(self, job: HeldJob, entry: QueuedRequest, standing: Standing) -> str:
        """Show the job's current position; turn a plugin's hold into an administrator's (one command)."""
        comment = compose(waiting_status(violation_codes(entry.decision), standing.position), own_part(job.comment))
        if comment == job.comment and job.admin_held:
            return "waiting"
        hold = [] if job.admin_held else ["Priority=0"]
        self.control(["scontrol", "update", f"JobId={job.job_id}", *hold, f"Comment={comment}"])
        return "updated"

    def _release(self, job: HeldJob, done: HoldPass) -> str:
        """Clear the hold mark (the plugin refuses a release while it is there), release, and only then drop
        the status from the comment: a job left on hold by a failed release is still recognised as ours."""
        if marked(job.admin_comment):
            self.control(["scontrol", "update", f"JobId={job.job_id}",
                          f"AdminComment={without_mark(job.admin_comment)}"])  # fmt: skip
        if job.held:
            self.control(["scontrol", "release", job.job_id])
        own = own_part(job.comment)
        if own != job.comment:
            try:
                self.control(["scontrol", "update", f"JobId={job.job_id}", f"Comment={own}"])
            except CommandFailed as exc:  # released all the same: only the status stays behind
                done.problems.append(f"held job {job.job_id}: {exc}")
        return "released"

    def _refuse(self, job: HeldJob, entry: QueuedRequest, done: HoldPass) -> str:
        """Say why on the job, then cancel it: the service will not admit it (even if the comment fails)."""
        try:
            self.control(["scontrol", "update", f"JobId={job.job_id}",
                          f"Comment={compose(refused_status(entry), own_part(job.comment))}"])  # fmt: skip
        except CommandFailed as exc:
            done.problems.append(f"held job {job.job_id}: {exc}")
        self.control(["scancel", job.job_id])
        return "refused"

    def _withdraw_gone(self, live: LiveJobs, waiting: Mapping[str, Standing], before: datetime) -> int:
        """Cancel the queue entries of Slurm jobs the controller no longer has (their users cancelled them)."""
        withdrawn = 0
        for key, standing in waiting.items():
            entry = standing.entry
            if not key.startswith(SUBMIT_KEY_PREFIX) or entry.at >= before or not self._ours(entry.request):
                continue
            if key.removeprefix(SUBMIT_KEY_PREFIX) in live.tokens:
                continue
            if self.gov.cancel_held(entry.id, self.actor) is not None:
                withdrawn += 1
        return withdrawn

    def _ours(self, request: dict[str, Any]) -> bool:
        """Whether a request was this cluster's (a sync without ``--cluster`` owns every Slurm request)."""
        return self.cluster is None or request.get("cluster") in (None, self.cluster)
