"""Keeping liens true to what the scheduler did: bind job ids, resize on modification, settle from accounting.

A submit hook takes a lien before the scheduler has assigned a job id. The decision is recorded under a
key made from a *submit token* that travels with the job (Slurm: in its admin comment), so the lien can be
found from the job later. From then on the scheduler's accounting is the truth:

- ``bind``: attach the job id to the lien once it is known (a modification hook, or the first sync);
- ``resize``: a modification that asks for more is decided again with the job's own lien left out of the
  balances, and on admission the old lien is closed and a new one, bound to the same job, replaces it;
- ``observe``: one job as accounting reports it, applied idempotently. Pending binds, running starts the
  lien, ended charges the actual usage and releases the rest (through :class:`Jobs`). A job with no lien
  (it bypassed the hook: fail-open, a hook installed later, an array's further tasks) is charged on its
  own account path at the current rates, keyed ``<scheduler>:<cluster>:<job id>`` so a re-run adds nothing;
- ``release_unseen``: a hook's reserved lien whose job the scheduler no longer knows (cancelled while held,
  refused by a later plugin) stops counting now rather than at its TTL. It is marked *expired*, not closed,
  so if the job turns up in accounting after all its usage is still charged.

Scheduler-neutral on purpose: adapters translate their accounting records into :class:`ObservedJob`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from hpcpolicy.engine import Active, Amounts, Request, UsageSnapshot, decide, prepare, price
from hpcpolicy.engine.slices import job_gpu_type
from hpcpolicy.engine.snapshot import QuotaRef, gpu_rate
from hpcpolicy.engine.weights import UNWEIGHTED, hour_weights
from hpcpolicy.ledger import Charge, JobUsage, Lien, LienState
from hpcpolicy.ledger.base import DuplicateKey, LedgerSession
from hpcpolicy.ledger.counters import counts_toward, entry_scopes
from hpcpolicy.ledger.rules import OPEN_STATES, lien_counts, lien_for, lien_scopes
from hpcpolicy.service.context import Context
from hpcpolicy.service.errors import Conflict, NotFound
from hpcpolicy.service.governance import Outcome, decision_record, usage_for
from hpcpolicy.service.jobs import Jobs, ensure_unbound

_CLOSED = (LienState.FINISHED, LienState.CANCELLED, LienState.FAILED)


class Phase(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"  # ended normally (or by its time limit): finished
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def ended(self) -> bool:
        return self in (Phase.COMPLETED, Phase.FAILED, Phase.CANCELLED)


class Result(StrEnum):
    """What ``observe`` did with one job; the sync command counts these."""

    BOUND = "bound"  # job id attached to its lien
    STARTED = "started"  # lien now running
    CHARGED = "charged"  # lien closed, actual usage charged, the rest released
    RELEASED = "released"  # lien closed without usage (never ran)
    UNHOOKED = "unhooked"  # no lien: usage charged on the job's own account path
    UNCHANGED = "unchanged"  # already applied
    WAITING = "waiting"  # no lien and not ended yet: charged when it ends
    CONFLICT = "conflict"  # the ledger already holds a different outcome for this job
    EXPIRED = "expired"  # a reserved lien whose job the scheduler no longer knows


@dataclass(frozen=True, slots=True)
class ObservedJob:
    """One job as the scheduler's accounting reports it. ``usage`` holds allocated resources and elapsed time."""

    job_id: str
    cluster: str
    user: str
    account: str | None
    partition: str | None
    phase: Phase
    usage: JobUsage
    started_at: datetime | None = None
    ended_at: datetime | None = None
    gpu_type: str | None = None
    lien_key: str | None = None  # the decision key of the lien the submit hook took, from the job's token
    scheduler: str = "slurm"

    @property
    def key(self) -> str:
        return f"{self.scheduler}:{self.cluster}:{self.job_id}"


class Reconciler:
    def __init__(self, ctx: Context):
        self.ctx = ctx
        self.jobs = Jobs(ctx)

    def bind(self, lien_key: str, job_id: str) -> Lien:
        """Attach ``job_id`` to the lien recorded under ``lien_key``, state unchanged. Conflict if bound elsewhere."""
        try:
            with self.ctx.ledger.session() as tx:
                lien = lien_by_key(tx, lien_key)
                if lien is None:
                    raise NotFound(f"no lien under {lien_key}")
                if lien.job_id == job_id:
                    return lien
                if lien.job_id is not None:
                    raise Conflict(f"lien {lien.id} is bound to job {lien.job_id}, not {job_id}")
                return _bound(tx, lien, job_id)
        except DuplicateKey:  # the ledger's unique (cluster, job id), should a concurrent bind win the race
            raise Conflict(f"job {job_id} already has another lien") from None

    def resize(self, job_id: str, lien_key: str | None, request: Request, caller: str, key: str) -> Outcome:
        """Decide a modified job with its current lien left out; on admission replace that lien.

        The new decision is recorded under ``key`` (a fresh submit token's), the job keeps its id.
        """
        decision_id, active, now = self.ctx.ids(), self.ctx.policies.current, self.ctx.clock()
        snap = active.snapshot
        with self.ctx.ledger.session() as tx:
            old = lien_by_key(tx, lien_key) if lien_key else None
            if old is not None and old.job_id not in (None, job_id):
                old = None  # the token belongs to another job
            if old is None:
                bound = tx.find_liens_by_job(job_id, request.cluster)
                old = bound[0] if len(bound) == 1 else None
            plan = prepare(request, snap)
            tx.lock(sorted({*plan.path, *(lien_scopes(old) if old else ())}))
            usage = usage_for(tx, plan.usage_quotas, now)
            if old is not None and lien_counts(old.state, old.expires_at, now):
                usage = without_lien(usage, old, plan.usage_quotas)
            decision = decide(plan, usage, now=now)
            lien = lien_for(decision_id, request, decision, snap, now, self.ctx.lien_ttl)
            if lien is not None:
                running = old is not None and old.state == LienState.RUNNING
                if old is not None:  # superseded: closed as of now, its successor carries the job on
                    gone = replace(old, job_id=None)
                    if old.state in OPEN_STATES:
                        gone = replace(gone, state=LienState.CANCELLED, ended_at=now, closed_at=now)
                    tx.update_lien(gone)
                lien = replace(
                    lien,
                    job_id=job_id,
                    state=LienState.RUNNING if running else LienState.RESERVED,
                    started_at=old.started_at if running and old else None,
                )
                tx.add_lien(lien)
            body = decision.to_dict()
            tx.add_decision(decision_record(decision_id, now, caller, request, decision, body, lien, key))
        return Outcome(decision_id, body, lien.id if lien else None, now)

    def observe(self, job: ObservedJob) -> Result:
        """Apply one accounting record. Safe to repeat: a second pass over the same record is UNCHANGED."""
        with self.ctx.ledger.session() as tx:
            bound = tx.find_liens_by_job(job.job_id, job.cluster)
            lien = bound[0] if bound else None
            if lien is None and job.lien_key:
                lien = lien_by_key(tx, job.lien_key)
                if lien is not None and lien.job_id not in (None, job.job_id):
                    lien = None  # the token is already another job's (an array's further tasks)
        if lien is None:
            return self._unhooked(job)
        if lien.state in _CLOSED:
            return Result.UNCHANGED
        try:
            return self._apply(lien, job)
        except Conflict:
            return Result.CONFLICT

    def _apply(self, lien: Lien, job: ObservedJob) -> Result:
        if job.phase == Phase.PENDING:
            if lien.job_id == job.job_id:
                return Result.UNCHANGED
            self._bind(lien, job.job_id)
            return Result.BOUND
        started = lien.state == LienState.RUNNING and lien.job_id == job.job_id
        if job.phase == Phase.RUNNING:
            if started:
                return Result.UNCHANGED
            self.jobs.start(lien.id, job.job_id, job.started_at, accounting=True)
            return Result.STARTED
        if job.started_at is not None and not started:
            self.jobs.start(lien.id, job.job_id, job.started_at, accounting=True)
        elif lien.job_id is None:
            self._bind(lien, job.job_id)
        ran = job.usage.elapsed_hours > 0
        if job.phase == Phase.COMPLETED:
            _, charge = self.jobs.finish(lien.id, job.usage, job.ended_at, accounting=True)
        else:
            usage = job.usage if ran else None
            failed = job.phase == Phase.FAILED
            _, charge = self.jobs.cancel(lien.id, usage, job.ended_at, failed=failed, accounting=True)
        return Result.CHARGED if charge is not None else Result.RELEASED

    def _bind(self, lien: Lien, job_id: str) -> None:
        try:
            with self.ctx.ledger.session() as tx:
                _bound(tx, lien, job_id)
        except DuplicateKey:
            raise Conflict(f"job {job_id} already has another lien") from None

    def release_unseen(self, key_prefix: str, seen_keys: set[str], seen_jobs: set[str], before: datetime) -> int:
        """Expire reserved liens taken under ``key_prefix`` before ``before`` whose job nobody has seen.

        ``seen_keys``/``seen_jobs``: the lien keys and job ids of every job the scheduler still knows.
        Running liens are left alone: a running job ends in accounting, and is settled from there.
        """
        expired = 0
        with self.ctx.ledger.session() as tx:
            for lien in list(tx.open_liens()):
                if lien.state != LienState.RESERVED or lien.created_at >= before or lien.job_id in seen_jobs:
                    continue
                record = tx.get_decision(lien.decision_id)
                key = record.key if record is not None else None
                if key is None or not key.startswith(key_prefix) or key in seen_keys:
                    continue
                tx.update_lien(replace(lien, state=LienState.EXPIRED, closed_at=self.ctx.clock()))
                expired += 1
        return expired

    def _unhooked(self, job: ObservedJob) -> Result:
        if not job.phase.ended:
            return Result.WAITING
        if job.usage.elapsed_hours <= 0:
            return Result.UNCHANGED  # never ran: nothing to charge
        charge = self.unhooked_charge(job)
        try:
            with self.ctx.ledger.session() as tx:
                if tx.find_charge(job.key) is not None:
                    return Result.UNCHANGED
                tx.add_charge(charge)
        except DuplicateKey:
            return Result.UNCHANGED  # a concurrent sync charged it first
        return Result.UNHOOKED

    def unhooked_charge(self, job: ObservedJob) -> Charge:
        """The charge for a job without a lien: its account path from the policy, priced at today's rates.

        An account the policy does not know is charged to the user alone; a partition it does not know
        has no rates (cost 0) but its CPU- and GPU-hours still count.
        """
        snap = self.ctx.policies.current.snapshot
        parents = snap.project_parents.get(job.account or "")
        part = snap.partition(job.cluster, job.partition) if job.partition else None
        rates = (0.0, 0.0, 0.0)
        if part is not None:
            spec = part.spec
            rates = (spec.rates.cpu_hour, gpu_rate(spec, job.gpu_type), spec.rates.memory_gb_hour)
        usage, hours = job.usage, job.usage.elapsed_hours
        cpu_hours, gpu_hours = (usage.cpus or 0) * hours, (usage.gpus or 0) * hours
        cost = price(rates, cpu_hours, gpu_hours, usage.memory_gb or 0.0, hours)
        weights = hour_weights(part, usage.gpus or 0, job.gpu_type)
        raw = (cpu_hours, gpu_hours) if weights != UNWEIGHTED else None
        return Charge(
            id=self.ctx.ids(),
            lien_id=None,
            job_id=job.job_id,
            user_id=job.user,
            project=job.account if parents else None,
            team=parents[0] if parents else None,
            org=parents[1] if parents else None,
            cluster=job.cluster,
            partition=job.partition,
            amounts=Amounts(cpu_hours * weights[0], gpu_hours * weights[1], cost),
            at=job.ended_at or self.ctx.clock(),
            source="sync",
            key=job.key,
            gpu_type=job_gpu_type(usage.gpus or 0, job.gpu_type, part.spec.nodes.gpu_type if part else None),
            raw_hours=raw,
        )


def _bound(tx: LedgerSession, lien: Lien, job_id: str) -> Lien:
    """``lien`` with ``job_id`` attached; Conflict if another lien on its cluster holds that job id."""
    ensure_unbound(tx, lien, job_id)
    bound = replace(lien, job_id=job_id)
    tx.update_lien(bound)
    return bound


def lien_by_key(tx: LedgerSession, key: str) -> Lien | None:
    """The lien of the decision recorded under ``key`` (a submit token's), if it took one."""
    record = tx.find_decision(key)
    return tx.get_lien(record.lien_id) if record is not None and record.lien_id else None


def without_lien(usage: UsageSnapshot, lien: Lien, quotas: tuple[QuotaRef, ...]) -> UsageSnapshot:
    """``usage`` minus one open lien: its amounts on every quota that counts it, one job and its GPUs on
    every counter that holds it."""
    scopes = set(entry_scopes(lien))
    consumed = dict(usage.consumed)
    active = dict(usage.active)
    released: set[str] = set()
    for ref in quotas:
        if ref.scope not in scopes or not counts_toward(lien, ref.slice):
            continue
        if ref.id in consumed:
            consumed[ref.id] = consumed[ref.id] - lien.amounts
        if ref.counter in active and ref.counter not in released:
            held = active[ref.counter]
            active[ref.counter] = Active(held.jobs - 1, held.gpus - lien.gpus)
            released.add(ref.counter)
    return UsageSnapshot(consumed, active, usage.previous)

