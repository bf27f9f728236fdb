"""Decisions: evaluate a request against the active policy and the ledger, reserve, record.

The order inside ``decide`` is the contract (after OPA's decision path): make the decision id first,
take the policy once, read the clock once, then in one transaction lock the account path's scopes,
read balances, evaluate, write the lien (if admitted and asked to reserve) and the decision record.
A failure anywhere rolls the whole transaction back: no lien without its decision record, and no record
claiming a lien that was not written.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from hpcpolicy.engine import (
    EMPTY_USAGE,
    Decision,
    QuotaRef,
    Request,
    UsageSnapshot,
    decide,
    evaluate,
    prepare,
)
from hpcpolicy.ledger import DecisionRecord, Lien
from hpcpolicy.ledger.base import DuplicateKey, LedgerSession, LedgerUnavailable
from hpcpolicy.ledger.queue import QueuedRequest, QueueState
from hpcpolicy.ledger.rules import lien_for
from hpcpolicy.service.accounts import Accounts
from hpcpolicy.service.alert_channels import Channels
from hpcpolicy.service.alerts import Alerting
from hpcpolicy.service.audit import AuditLog
from hpcpolicy.service.context import Context
from hpcpolicy.service.errors import Conflict, NotFound
from hpcpolicy.service.fairshare import FairShares
from hpcpolicy.service.holding import Hold, behind_the_queue, blocked_by, held_entry, holdable, queue_full
from hpcpolicy.service.jobs import Jobs
from hpcpolicy.service.policy_store import ActivePolicy
from hpcpolicy.service.queue_view import QueueView, Standing
from hpcpolicy.service.reports import Reports
from hpcpolicy.service.retry import retrying
from hpcpolicy.service.standings import Standings


@dataclass(frozen=True, slots=True)
class Outcome:
    """A decision as the service returns it: with its id, the lien taken, and whether it was a replay."""

    decision_id: str
    decision: dict[str, Any]
    lien_id: str | None
    at: datetime
    replayed: bool = False
    recorded: bool = True
    held: QueuedRequest | None = None  # set when the request waits in the admission queue (HTTP 202)

    @property
    def allow(self) -> bool:
        return bool(self.decision["allow"])


@dataclass(frozen=True, slots=True)
class Found:
    """What a decision id names: the decision record (made at once, or when a held request was resolved by
    a decision) and the queue entry with its standing (if it was ever held); at least one of them."""

    record: DecisionRecord | None
    standing: Standing | None

    @property
    def status(self) -> str:
        """``allowed``/``denied`` for a decision made at once; for a held request ``queued``, then
        ``admitted``, ``denied``, ``cancelled`` or ``expired``."""
        entry = self.standing.entry if self.standing is not None else None
        if entry is not None and (self.record is None or entry.state is QueueState.ADMITTED):
            return entry.state.value
        assert self.record is not None
        return "allowed" if self.record.allow else "denied"

    @property
    def owner(self) -> tuple[str, str]:
        """(user, caller) of the request: who may read it."""
        held = self.record or (self.standing.entry if self.standing is not None else None)
        assert held is not None
        return held.user_id, held.caller


class Governance:
    def __init__(self, ctx: Context):
        self.ctx = ctx
        self.jobs = Jobs(ctx)
        self.accounts = Accounts(ctx)
        self.audit = AuditLog(ctx)
        self.fairshare = FairShares(ctx)
        self.queue = QueueView(ctx, self.fairshare)
        self.standings = Standings(ctx, self.accounts)
        self.alerts = Alerting(ctx, ctx.alerts, Channels(ctx.alerts), self.standings.all)
        self.reports = Reports(ctx)

    def decide(
        self,
        request: Request,
        caller: str,
        *,
        reserve: bool = False,
        dry_run: bool = False,
        key: str | None = None,
        job_id: str | None = None,
        hold: Hold | None = None,
        new_key: bool = False,
    ) -> Outcome:
        """``hold``: wait in the admission queue if only transient limits refuse the request (implies
        ``reserve``: an admission takes the lien). ``new_key``: ``key`` was drawn at random for this call
        (a Slurm submit token), not sent by a client that may be retrying: nothing can hold it yet, so it is
        not looked up (two reads of the submit hook's)."""
        started = time.perf_counter()
        decision_id = self.ctx.ids()
        active = self.ctx.policies.current
        now = self.ctx.clock()
        reserve = reserve or hold is not None
        try:
            outcome = retrying(
                lambda: self._decide(
                    decision_id, active, now, request, caller, reserve, dry_run, key, job_id, hold, new_key
                )
            )
        except LedgerUnavailable as exc:
            self.ctx.observers.ledger_failed(exc)
            raise
        # Told once committed: a decision in a group whose commit fails runs again, and is told then.
        seconds = time.perf_counter() - started
        self.ctx.ledger.after_commit(
            lambda: self.ctx.observers.decided(outcome.decision, outcome.lien_id is not None, seconds)
        )
        if outcome.held is not None and not outcome.replayed:
            self.ctx.observers.queued(outcome.held)  # committed: the dispatcher can read it now
        return outcome

    def _decide(
        self,
        decision_id: str,
        active: ActivePolicy,
        now: datetime,
        request: Request,
        caller: str,
        reserve: bool,
        dry_run: bool,
        key: str | None,
        job_id: str | None,
        hold: Hold | None = None,
        new_key: bool = False,
    ) -> Outcome:
        if dry_run:
            return Outcome(decision_id, self.check(request, active, now).to_dict(), None, now, recorded=False)
        try:
            with self.ctx.ledger.session() as tx:
                replayable = None if new_key else key
                if replayable is not None and (previous := tx.find_decision(replayable)) is not None:
                    return _replay(previous, request)
                if replayable is not None and hold is not None and (waiting := tx.find_queued(replayable)) is not None:
                    return _replay_held(waiting, request)
                decision = self._evaluate(tx, request, active, now, lock=reserve)
                if hold is not None:
                    decision = behind_the_queue(tx, decision)
                if hold is not None and holdable(decision):
                    entry = held_entry(decision_id, now, caller, request, decision, active, key, job_id, hold,
                                       self.ctx.queue)  # fmt: skip
                    if tx.queued_count(request.user_id) < self.ctx.queue.max_per_user:
                        entry = tx.add_queued(entry)
                        return Outcome(decision_id, entry.decision, None, now, held=entry)
                    decision = replace(decision, violations=(*decision.violations, queue_full(request, self.ctx.queue)))
                lien = (
                    lien_for(decision_id, request, decision, active.snapshot, now, self.ctx.lien_ttl, job_id)
                    if reserve
                    else None
                )
                body = decision.to_dict()
                with tx.writes(last=True):  # one round trip on PostgreSQL, its commit included
                    if lien is not None:
                        tx.add_lien(lien)
                    tx.add_decision(decision_record(decision_id, now, caller, request, decision, body, lien, key))
                return Outcome(decision_id, body, lien.id if lien else None, now)
        except DuplicateKey:
            # A concurrent retry with the same key (or the same job id) committed first.
            with self.ctx.ledger.session() as tx:
                previous = tx.find_decision(key) if key is not None else None
            if previous is None:
                raise Conflict(f"job id {job_id} already has a lien") from None
            return _replay(previous, request)

    def admit_held(self, entry_id: str) -> tuple[QueueState | None, QueuedRequest | None]:
        """Decide a held request again, in one transaction: admitted (its lien and decision record written
        under the id it was given), denied (a rule waiting cannot lift refuses it now: recorded), expired
        (past its TTL), or still held (what holds it now is stored). ``(None, None)`` when it is no longer
        held (cancelled meanwhile). The request's own decision id, key and job id carry over."""
        active = self.ctx.policies.current
        now = self.ctx.clock()
        try:
            return retrying(lambda: self._admit_held(entry_id, active, now))
        except DuplicateKey:  # its job id is bound to another lien meanwhile: it cannot be admitted
            return retrying(lambda: self._resolve_held(entry_id, now, QueueState.DENIED, None))

    def _admit_held(
        self, entry_id: str, active: ActivePolicy, now: datetime
    ) -> tuple[QueueState | None, QueuedRequest | None]:
        with self.ctx.ledger.session() as tx:
            entry = tx.get_queued(entry_id, lock=True)
            if entry is None or entry.state is not QueueState.QUEUED:
                return None, None
            if now >= entry.expires_at:
                gone = entry.resolved(QueueState.EXPIRED, now)
                tx.update_queued(gone)
                return QueueState.EXPIRED, gone
            request = Request.model_validate(entry.request)
            decision = self._evaluate(tx, request, active, now, lock=True)
            body = decision.to_dict()
            if holdable(decision):
                waiting = entry.still_held(blocked_by(decision), body)
                tx.update_queued(waiting)
                return QueueState.QUEUED, waiting
            lien = lien_for(entry.id, request, decision, active.snapshot, now, self.ctx.lien_ttl, entry.job_id)
            if lien is not None:
                tx.add_lien(lien)
            tx.add_decision(decision_record(entry.id, now, entry.caller, request, decision, body, lien, entry.key))
            state = QueueState.ADMITTED if decision.allow else QueueState.DENIED
            done = entry.resolved(state, now, body)
            tx.update_queued(done)
        self.ctx.observers.decided(body, lien is not None, 0.0)
        return state, done

    def _resolve_held(
        self, entry_id: str, now: datetime, state: QueueState, actor: str | None
    ) -> tuple[QueueState | None, QueuedRequest | None]:
        with self.ctx.ledger.session() as tx:
            entry = tx.get_queued(entry_id, lock=True)
            if entry is None or entry.state is not QueueState.QUEUED:
                return None, entry
            done = entry.resolved(state, now)
            tx.update_queued(done, actor)
            return state, done

    def expire_held(self, entry_id: str) -> tuple[QueueState | None, QueuedRequest | None]:
        """End a held request's wait at its TTL (``(None, entry)`` if it was resolved meanwhile)."""
        return retrying(lambda: self._resolve_held(entry_id, self.ctx.clock(), QueueState.EXPIRED, None))

    def cancel_held(self, entry_id: str, actor: str) -> QueuedRequest | None:
        """Withdraw a held request (None if it is no longer held: the entry as it stands is returned by
        :meth:`held`)."""
        state, entry = retrying(lambda: self._resolve_held(entry_id, self.ctx.clock(), QueueState.CANCELLED, actor))
        return entry if state is QueueState.CANCELLED else None

    def held(self, entry_id: str) -> QueuedRequest | None:
        with self.ctx.ledger.session() as tx:
            return tx.get_queued(entry_id)

    def lookup(self, decision_id: str) -> Found:
        """A decision id's record and, if it was ever held, its queue entry with its place; NotFound for
        neither. Both are read in one snapshot: at READ COMMITTED an admission committing between the two
        reads would show its entry admitted and no decision record (an admitted request without its lien)."""
        with self.ctx.ledger.reading() as tx:
            record = tx.get_decision(decision_id)
            entry = tx.get_queued(decision_id)
        if record is None and entry is None:
            raise NotFound(f"no decision {decision_id}")
        return Found(record, self.queue.standing(entry) if entry is not None else None)

    def fail_open(self, request: Request, error: LedgerUnavailable) -> Decision:
        """The decision when the ledger cannot be reached, or ``error`` re-raised (fail closed).

        The policy is evaluated against zero usage; if the job's partition is marked ``fail_open`` that
        answer stands (an allow reserves nothing; a denial by a rule that needs no usage is final).
        Balances are unknown, so ``remaining`` is left empty. Pure: no ledger call.
        """
        started = time.perf_counter()
        active = self.ctx.policies.current
        decision = evaluate(request, active.snapshot, EMPTY_USAGE, now=self.ctx.clock())
        route = decision.route
        part = active.snapshot.partition(route.cluster, route.partition) if route else None
        if part is None or not part.spec.fail_open:
            raise error
        degraded = replace(decision, remaining={})
        seconds = time.perf_counter() - started
        self.ctx.observers.decided(degraded.to_dict() | {"degraded": str(error)}, False, seconds)
        return degraded

    def decide_fail_open(self, request: Request, error: LedgerUnavailable) -> Outcome:
        """:meth:`fail_open` as a ``decide`` outcome: not reserved, not recorded, marked ``degraded``."""
        decision = self.fail_open(request, error)
        body = decision.to_dict() | {"degraded": f"ledger unavailable, usage not checked: {error}"}
        return Outcome(self.ctx.ids(), body, None, self.ctx.clock(), recorded=False)

    def check(self, request: Request, active: ActivePolicy | None = None, now: datetime | None = None) -> Decision:
        """Evaluate against current balances without writing anything (dry runs, compatibility endpoints):
        read over a snapshot that waits for no writer and holds up none (on SQLite no write lock is taken)."""
        active = active or self.ctx.policies.current
        now = now or self.ctx.clock()
        with self.ctx.ledger.reading() as tx:
            return self._evaluate(tx, request, active, now, lock=False)

    def get_decision(self, decision_id: str) -> DecisionRecord:
        with self.ctx.ledger.session() as tx:
            record = tx.get_decision(decision_id)
        if record is None:
            raise NotFound(f"no decision {decision_id}")
        return record

    def _evaluate(
        self, tx: LedgerSession, request: Request, active: ActivePolicy, now: datetime, *, lock: bool
    ) -> Decision:
        plan = prepare(request, active.snapshot)
        if lock:
            tx.lock(plan.path)
        return decide(plan, usage_for(tx, plan.usage_quotas, now), now=now)


def usage_for(tx: LedgerSession, quotas: tuple[QuotaRef, ...], now: datetime) -> UsageSnapshot:
    """What ``quotas`` have consumed at ``now``, read in ``tx`` (the engine's usage snapshot)."""
    return tx.usage(quotas, now)


def decision_record(
    decision_id: str,
    at: datetime,
    caller: str,
    request: Request,
    decision: Decision,
    body: dict[str, Any],
    lien: Lien | None,
    key: str | None,
) -> DecisionRecord:
    """What is stored of every decision: the request, the answer, who asked, when, and the lien taken."""
    return DecisionRecord(
        id=decision_id,
        at=at,
        caller=caller,
        user_id=request.user_id,
        allow=decision.allow,
        policy_version=decision.policy_version,
        request=request.model_dump(mode="json"),
        decision=body,
        lien_id=lien.id if lien else None,
        key=key,
    )


def _same_request(stored: dict[str, Any], request: Request) -> None:
    if stored != request.model_dump(mode="json"):
        raise Conflict("idempotency key already used for a different request")


def _replay_held(entry: QueuedRequest, request: Request) -> Outcome:
    _same_request(entry.request, request)
    return Outcome(entry.id, entry.decision, None, entry.at, replayed=True, held=entry)


def _replay(previous: DecisionRecord, request: Request) -> Outcome:
    _same_request(previous.request, request)
    return Outcome(previous.id, previous.decision, previous.lien_id, previous.at, replayed=True)
