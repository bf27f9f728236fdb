"""Job lifecycle on a lien: start, finish (charge actual usage, release the rest), cancel/fail, expiry.

A job is addressed by its decision id (which is its lien's id) or by the scheduler's job id once
attached (unique per cluster: name the cluster when two clusters have the same id). The scheduler's word
wins over the lien's state: a job reported started or finished after its lien expired is re-held or
charged all the same, since the usage is real. Retries are safe: finishing a finished job with the same
usage returns the same charge; different usage is a conflict.

Who may report is decided at the edge (only the scheduler side reports usage); what a report may say is
decided here, against the lien, in the transaction that applies it (:func:`rules.usage_problems`): a
report outside the lien is refused unless it is the scheduler's own accounting (``accounting=True``).
Each transition locks the lien's row, so a user's cancel and the scheduler's start cannot both win.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from hpcpolicy.ledger import Charge, JobUsage, Lien, LienState
from hpcpolicy.ledger.base import DuplicateKey, LedgerSession
from hpcpolicy.ledger.rules import actual_amounts, raw_hours, start_problems, usage_problems
from hpcpolicy.service.context import Context
from hpcpolicy.service.errors import Conflict, InvalidInput, NotFound
from hpcpolicy.service.retry import retrying

_CLOSED = (LienState.FINISHED, LienState.CANCELLED, LienState.FAILED)


class Jobs:
    def __init__(self, ctx: Context):
        self.ctx = ctx

    def get(self, ref: str, cluster: str | None = None) -> tuple[Lien, Charge | None]:
        with self.ctx.ledger.session() as tx:
            lien = find(tx, ref, cluster)
            charges = tx.charges_for_lien(lien.id)
        return lien, charges[0] if charges else None

    def start(
        self,
        ref: str,
        job_id: str | None = None,
        at: datetime | None = None,
        *,
        cluster: str | None = None,
        accounting: bool = False,
    ) -> Lien:
        """The job started (at ``at``, default now), bound to ``job_id`` if given. A start time outside
        [admission, now] is refused unless it is the scheduler's own accounting (``accounting``)."""
        now = self.ctx.clock()
        checked = at if not accounting else None
        return retrying(lambda: self._start(ref, cluster, job_id, at, checked, now))

    def _start(
        self, ref: str, cluster: str | None, job_id: str | None, at: datetime | None, checked: datetime | None,
        now: datetime,
    ) -> Lien:
        try:
            with self.ctx.ledger.session() as tx:
                lien = find(tx, ref, cluster, lock=True)
                if lien.state == LienState.RUNNING and job_id in (None, lien.job_id):
                    return lien  # a retried start
                if lien.state in _CLOSED:
                    raise Conflict(f"job {ref} is already {lien.state.value}")
                if job_id and lien.job_id and job_id != lien.job_id:
                    raise Conflict(f"job {ref} is bound to scheduler job {lien.job_id}, not {job_id}")
                if checked is not None and (problems := start_problems(lien, checked, now)):
                    raise InvalidInput.fields("start refused", problems)
                if job_id and job_id != lien.job_id:
                    ensure_unbound(tx, lien, job_id)
                started = replace(lien, state=LienState.RUNNING, job_id=job_id or lien.job_id, started_at=at or now)
                tx.update_lien(started)
                return started
        except DuplicateKey:  # a concurrent bind of the same job id committed first
            raise Conflict(f"job {job_id} on this cluster already has another lien") from None

    def finish(
        self,
        ref: str,
        usage: JobUsage,
        at: datetime | None = None,
        *,
        cluster: str | None = None,
        accounting: bool = False,
    ) -> tuple[Lien, Charge | None]:
        """Charge ``usage`` and release the rest. ``accounting``: the scheduler's own record, charged as
        reported even beyond the lien; otherwise a report outside the lien is refused (InvalidInput)."""
        return self._close(ref, cluster, usage, at, LienState.FINISHED, accounting=accounting)

    def cancel(
        self,
        ref: str,
        usage: JobUsage | None = None,
        at: datetime | None = None,
        *,
        failed: bool = False,
        cluster: str | None = None,
        accounting: bool = False,
        unstarted_only: bool = False,
    ) -> tuple[Lien, Charge | None]:
        """Release the lien, charging ``usage`` if given. ``unstarted_only``: refuse (Conflict) unless the
        job has not started, checked under the lien's lock (a job's own user may withdraw it, not end it)."""
        state = LienState.FAILED if failed else LienState.CANCELLED
        return self._close(ref, cluster, usage, at, state, accounting=accounting, unstarted_only=unstarted_only)

    def expire(self) -> int:
        now = self.ctx.clock()

        def expire_in_one_transaction() -> int:
            with self.ctx.ledger.session() as tx:
                return tx.expire_liens(now)

        return retrying(expire_in_one_transaction)

    def _close(
        self,
        ref: str,
        cluster: str | None,
        usage: JobUsage | None,
        at: datetime | None,
        state: LienState,
        *,
        accounting: bool,
        unstarted_only: bool = False,
    ) -> tuple[Lien, Charge | None]:
        if usage is not None and not 0 <= usage.elapsed_hours < float("inf"):
            raise InvalidInput("elapsed time must be a finite number ≥ 0")
        now = self.ctx.clock()
        moment = at or now

        def close_in(tx: LedgerSession) -> tuple[Lien, Charge | None]:
            lien = find(tx, ref, cluster, lock=True)
            if lien.state in _CLOSED:
                return _retried(tx, lien, usage, state)
            if unstarted_only and lien.state != LienState.RESERVED:
                raise Conflict(f"job {ref} is {lien.state.value}: only the scheduler reports how it ends")
            if not accounting and (problems := usage_problems(lien, usage, moment, now, self.ctx.walltime_grace)):
                raise InvalidInput.fields("usage refused", problems)
            return self._close_in(tx, lien, usage, moment, state)

        def close() -> tuple[Lien, Charge | None]:
            try:
                with self.ctx.ledger.session() as tx:
                    return close_in(tx)
            except DuplicateKey:  # a concurrent retry charged first: answer as a retry
                with self.ctx.ledger.session() as tx:
                    return close_in(tx)

        closed, charge = retrying(close)
        self.ctx.observers.freed(closed)  # a slot the admission queue may give to a held request
        return closed, charge

    def _close_in(
        self, tx: LedgerSession, lien: Lien, usage: JobUsage | None, at: datetime, state: LienState
    ) -> tuple[Lien, Charge | None]:
        closed = replace(lien, state=state, ended_at=at, closed_at=self.ctx.clock())
        tx.update_lien(closed)
        charge = None
        if usage is not None and usage.elapsed_hours > 0:
            charge = Charge(
                id=self.ctx.ids(),
                lien_id=lien.id,
                job_id=lien.job_id,
                user_id=lien.user_id,
                project=lien.project,
                team=lien.team,
                org=lien.org,
                cluster=lien.cluster,
                partition=lien.partition,
                amounts=actual_amounts(lien, usage),
                at=at,
                source=state.value,
                key=f"lien:{lien.id}",
                gpu_type=lien.gpu_type,
                raw_hours=raw_hours(lien, usage),
            )
            tx.add_charge(charge)
        return closed, charge


def find(tx: LedgerSession, ref: str, cluster: str | None = None, *, lock: bool = False) -> Lien:
    """The lien with id ``ref``, else the one bound to scheduler job ``ref`` (on ``cluster`` if given).

    A lien id wins over a job id that happens to spell it. A job id found on several clusters is a
    Conflict naming them, rather than a guess.
    """
    lien = tx.get_lien(ref, lock=lock)
    if lien is not None:
        return lien
    bound = tx.find_liens_by_job(ref, cluster)
    if not bound:
        where = f" on cluster {cluster}" if cluster else ""
        raise NotFound(f"no job or lien {ref}{where}")
    if len(bound) > 1:
        clusters = ", ".join(sorted(lien.cluster for lien in bound))
        raise Conflict(f"job {ref} exists on clusters {clusters}: name the cluster (?cluster=…)")
    if lock:
        return tx.get_lien(bound[0].id, lock=True) or bound[0]
    return bound[0]


def ensure_unbound(tx: LedgerSession, lien: Lien, job_id: str) -> None:
    """Conflict if another lien on the lien's cluster already holds ``job_id`` (checked before the write,
    so the answer is a clear 409 on every ledger, not a unique-key violation)."""
    for other in tx.find_liens_by_job(job_id, lien.cluster):
        if other.id != lien.id:
            raise Conflict(f"job {job_id} on cluster {lien.cluster} already has lien {other.id}")


def _retried(tx: LedgerSession, lien: Lien, usage: JobUsage | None, state: LienState) -> tuple[Lien, Charge | None]:
    charges = tx.charges_for_lien(lien.id)
    charge = charges[0] if charges else None
    if lien.state != state:
        raise Conflict(f"job {lien.id} is already {lien.state.value}")
    expected = actual_amounts(lien, usage) if usage is not None and usage.elapsed_hours > 0 else None
    if (charge.amounts if charge else None) != expected:
        raise Conflict(f"job {lien.id} was already {state.value} with different usage")
    return lien, charge
