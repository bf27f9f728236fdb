"""Job lifecycle on a lien: start, finish (charge actual usage, release the rest), cancel/fail, expiry.

A job is addressed by its decision id (which is its lien's id) or by the scheduler's job id once
attached. The scheduler's word wins over the lien's state: a job reported started or finished after its
lien expired is re-held or charged all the same, since the usage is real. Retries are safe: finishing a
finished job with the same usage returns the same charge; different usage is a conflict.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from hpcpolicy.ledger import Charge, JobUsage, Lien, LienState
from hpcpolicy.ledger.base import LedgerSession
from hpcpolicy.ledger.rules import actual_amounts
from hpcpolicy.ledger.sql.ledger import DuplicateKey
from hpcpolicy.service.context import Context
from hpcpolicy.service.errors import Conflict, InvalidInput, NotFound
from hpcpolicy.service.retry import retrying

_CLOSED = (LienState.FINISHED, LienState.CANCELLED, LienState.FAILED)


class Jobs:
    def __init__(self, ctx: Context):
        self.ctx = ctx

    def get(self, ref: str) -> tuple[Lien, Charge | None]:
        with self.ctx.ledger.session() as tx:
            lien = _find(tx, ref)
            charges = tx.charges_for_lien(lien.id)
        return lien, charges[0] if charges else None

    def start(self, ref: str, job_id: str | None = None, at: datetime | None = None) -> Lien:
        moment = at or self.ctx.clock()
        return retrying(lambda: self._start(ref, job_id, moment))

    def _start(self, ref: str, job_id: str | None, at: datetime) -> Lien:
        with self.ctx.ledger.session() as tx:
            lien = _find(tx, ref)
            if lien.state == LienState.RUNNING and job_id in (None, lien.job_id):
                return lien  # a retried start
            if lien.state in _CLOSED:
                raise Conflict(f"job {ref} is already {lien.state.value}")
            if job_id and lien.job_id and job_id != lien.job_id:
                raise Conflict(f"job {ref} is bound to scheduler job {lien.job_id}, not {job_id}")
            started = replace(lien, state=LienState.RUNNING, job_id=job_id or lien.job_id, started_at=at)
            tx.update_lien(started)
            return started

    def finish(self, ref: str, usage: JobUsage, at: datetime | None = None) -> tuple[Lien, Charge | None]:
        return self._close(ref, usage, at, LienState.FINISHED)

    def cancel(
        self, ref: str, usage: JobUsage | None = None, at: datetime | None = None, *, failed: bool = False
    ) -> tuple[Lien, Charge | None]:
        return self._close(ref, usage, at, LienState.FAILED if failed else LienState.CANCELLED)

    def expire(self) -> int:
        now = self.ctx.clock()

        def expire_in_one_transaction() -> int:
            with self.ctx.ledger.session() as tx:
                return tx.expire_liens(now)

        return retrying(expire_in_one_transaction)

    def _close(
        self, ref: str, usage: JobUsage | None, at: datetime | None, state: LienState
    ) -> tuple[Lien, Charge | None]:
        if usage is not None and usage.elapsed_hours < 0:
            raise InvalidInput("elapsed time must be ≥ 0")
        moment = at or self.ctx.clock()

        def close() -> tuple[Lien, Charge | None]:
            try:
                with self.ctx.ledger.session() as tx:
                    return self._close_in(tx, ref, usage, moment, state)
            except DuplicateKey:  # a concurrent retry charged first: answer as a retry
                with self.ctx.ledger.session() as tx:
                    return self._close_in(tx, ref, usage, moment, state)

        return retrying(close)

    def _close_in(
        self, tx: LedgerSession, ref: str, usage: JobUsage | None, at: datetime, state: LienState
    ) -> tuple[Lien, Charge | None]:
        lien = _find(tx, ref)
        if lien.state in _CLOSED:
            return _retried(tx, lien, usage, state)
        closed = replace(lien, state=state, ended_at=at)
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
            )
            tx.add_charge(charge)
        return closed, charge


def _find(tx: LedgerSession, ref: str) -> Lien:
    lien = tx.get_lien(ref) or tx.find_lien_by_job(ref)
    if lien is None:
        raise NotFound(f"no job or lien {ref}")
    return lien


def _retried(tx: LedgerSession, lien: Lien, usage: JobUsage | None, state: LienState) -> tuple[Lien, Charge | None]:
    charges = tx.charges_for_lien(lien.id)
    charge = charges[0] if charges else None
    if lien.state != state:
        raise Conflict(f"job {lien.id} is already {lien.state.value}")
    expected = actual_amounts(lien, usage) if usage is not None and usage.elapsed_hours > 0 else None
    if (charge.amounts if charge else None) != expected:
        raise Conflict(f"job {lien.id} was already {state.value} with different usage")
    return lien, charge
