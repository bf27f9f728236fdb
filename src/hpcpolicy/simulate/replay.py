"""The replay loop: trace jobs in submit order through the policy and a scheduler model on one virtual clock.

Why the interleaving matters. A job is decided at its submit time, but it is charged at its end, and
its end depends on when the scheduler started it — which depends on every job admitted before it. So
neither "decide everything, then schedule" nor "schedule everything, then charge" is right: a budget
must see, at each decision, exactly the charges of the jobs that ended by then and the liens of those
still queued or running. The loop is therefore one event loop ordered by trace time:

1. **submit** at ``t``: first the model ``advance(t)``-s — every completion at or before ``t`` and
   every start it allows (starts only happen at a completion or an arrival, so after this call every
   job that starts at or before ``t`` has a placement);
2. the new placements are **started** in the ledger (a lien becomes ``running`` if it must outlive its
   TTL), and every job whose **end** is at or before ``t`` is charged its actual usage, dated at its end,
   in order of end — completions before arrivals at the same instant, as in the models themselves;
3. the job is **decided** against the ledger as it now stands, at ``t``; denied, it leaves the
   simulation; admitted, it holds a lien and is **enqueued** (it may start at once, at ``t``);
4. after the last submit the model drains and the remaining ends are charged.

Two features need the ledger at every completion rather than at the next submit, so with them step 1
advances the model one completion instant at a time and steps 2 follow each instant (``stepped``):

* **fair share** (:mod:`.fairshare`): the ``fairshare`` model ranks waiting jobs by usage that includes
  every job ended or started so far, fed from the ledger's charges and the decisions' estimates;
* **queued admission** (:mod:`.held`): a job refused only by a concurrency cap is held instead of denied,
  and when a job ends, the held jobs blocked on its caps are decided again at that instant, in priority
  order; admitted, a held job joins the scheduler's queue then, its wait still counted from its submit.

A job that can never run (larger than the machine) is rejected by the model's intake before the
policy sees it and reported in ``schedule.skipped``. Cost per job is O(log n) in the model plus one
decision, so a replay stays linear in the trace (up to the log factor).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from functools import partial
from heapq import heappop, heappush
from operator import attrgetter

from hpcpolicy.engine import Code, Decision, Estimate, Request
from hpcpolicy.engine.fairusage import Association
from hpcpolicy.service.holding import behind_the_queue, concurrency_limits, holdable, job_size, queue_full

from .fairshare import FairSharePriorities
from .governor import Governor
from .held import AdmissionQueue, Held
from .requests import RequestBuilder
from .scheduler import Entry, Model, instants
from .source import TraceJob
from .tally import GovernanceTally
from .unpoliced import replay_unpoliced
from .workload import Schedule

_RANK = attrgetter("rank")

Progress = Callable[[int], None]
"""Called with the number of jobs submitted so far, every ``every`` jobs."""


@dataclass(slots=True)
class PolicyRun:
    """Everything the policy side needs: who decides, how jobs become requests, where figures go; and the
    fair-share priorities (``fairshare`` model, held jobs) and admission queue when the run has them."""

    governor: Governor
    requests: RequestBuilder
    tally: GovernanceTally
    fairshare: FairSharePriorities | None = None
    queue: AdmissionQueue | None = None


def replay(
    jobs: Sequence[TraceJob],
    model: Model,
    policy: PolicyRun | None = None,
    *,
    fairshare: tuple[FairSharePriorities, Callable[[TraceJob], Association]] | None = None,
    progress: Progress | None = None,
    every: int = 5000,
) -> Schedule:
    """Replay ``jobs`` (sorted by submit) on ``model``, governed by ``policy`` unless it is None.

    Without a policy, ``fairshare`` (priorities, and each job's association) feeds the ``fairshare`` model.
    """
    if policy is not None:
        return _Governed(model, policy).run(jobs, every, progress)
    if fairshare is not None:
        return replay_unpoliced(_chunks(jobs, every, progress), model, *fairshare)
    submit = model.submit
    for chunk in _chunks(jobs, every, progress):
        for job in chunk:
            submit(job.sim)
    return model.drain()


class _Governed:
    """The event loop's state: admitted jobs waiting to start, running jobs by end time, held jobs."""

    def __init__(self, model: Model, policy: PolicyRun) -> None:
        self.model = model
        self.governor: Governor = policy.governor
        self.requests = policy.requests
        self.tally = policy.tally
        self.fair = policy.fairshare
        self.queue = policy.queue
        self.stepped = self.fair is not None or self.queue is not None
        self.waiting: dict[str, tuple[str, str, Association, Estimate]] = {}  # job id → (lien, account, who, est)
        self.ends: list[tuple[float, int, float, str, str]] = []  # heap (end, order, start, lien id, account)
        self.slots: dict[str, tuple[str, ...]] = {}  # lien id → its concurrency quotas (queued admission)
        self.seen = 0  # placements already started in the ledger

    def run(self, jobs: Sequence[TraceJob], every: int, progress: Progress | None) -> Schedule:
        entry_for, catch_up, decide = self.model.intake.entry, self.catch_up, self.decide
        for chunk in _chunks(jobs, every, progress):
            for job in chunk:
                entry = entry_for(job.sim)
                if entry is not None:
                    catch_up(entry[1])
                    decide(job, entry, entry[1])
        catch_up(float("inf"))
        if self.queue is not None:  # cannot happen (a held job's cap frees when the work it waits for ends)
            for held in list(self.queue.jobs.values()):
                self.queue.release(held)
                self.tally.record(held.decision, held.at)
        schedule = self.model.drain()
        self.start_new()
        self.finish_until(float("inf"))
        return schedule

    def catch_up(self, t: float) -> None:
        """Advance the model, the ledger (and held jobs) to ``t``: every completion at or before it."""
        model, queue = self.model, self.queue
        if self.stepped:
            for end in instants(model, t):
                self.start_new()
                self.finish_until(end)
                if queue is not None and (queue.freed or (queue.expiring and queue.expiring[0][0] <= end)):
                    self.release(end)
        else:
            model.advance(t)
        if len(model.schedule.placements) > self.seen:
            self.start_new()
        if self.ends and self.ends[0][0] <= t:
            self.finish_until(t)

    def decide(self, job: TraceJob, entry: Entry, t: float) -> None:
        """Decide a job at its submit; with queued admission, as ``Governance.decide`` with ``hold``."""
        request, queue = self.requests.request(job), self.queue
        if queue is None:
            decision, lien_id = self.governor.decide(request, job.sim.id, t)
        else:
            self.expire(t)
            # held jobs wait for a slot it would take: it waits with them (before any lien is taken)
            vet = partial(behind_the_queue, queue) if queue.jobs else None
            decision, lien_id = self.governor.decide(request, job.sim.id, t, vet)
            if lien_id is None and holdable(decision):
                if queue.queued_count(request.user_id) < queue.settings.max_per_user:
                    self.hold(job, entry, request, decision, t)
                    return
                decision = replace(decision, violations=(*decision.violations, queue_full(request, queue.settings)))
        account = self.tally.record(decision, t)
        if lien_id is not None:
            self.admit(job.sim.id, entry, request, decision, lien_id, account)

    def admit(
        self, job_id: str, entry: Entry, request: Request, decision: Decision, lien_id: str, account: str
    ) -> None:
        who = decision.project, request.user_id  # the association fair share charges the job to
        self.waiting[job_id] = (lien_id, account, who, decision.estimate)
        if self.queue is not None:
            self.slots[lien_id] = concurrency_limits(decision)
        if self.fair is not None:
            self.fair.register(job_id, who, job_size(request, decision, self.governor.snapshot))
        self.model.enqueue(entry)

    def hold(self, job: TraceJob, entry: Entry, request: Request, decision: Decision, t: float) -> None:
        queue, fair = self.queue, self.fair
        assert queue is not None and fair is not None  # queued admission orders held jobs by fair share
        held = queue.hold(job, entry, request.user_id, decision, t)
        self.tally.hold(decision)
        size = job_size(request, decision, self.governor.snapshot)
        fair.register(job.sim.id, (decision.project, request.user_id), size)
        if any(v.code == Code.QUEUE_WAITING for v in decision.violations):
            queue.freed.update(held.group)  # the dispatcher tries a new arrival's group at once: it may go first
            self.release(t)

    def expire(self, t: float) -> None:
        """Held jobs past the queue's TTL stop waiting: counted denied, with what held them."""
        assert self.queue is not None
        for held in self.queue.expire(t):
            self.tally.record(held.decision, t)
            self.tally.expired += 1
            if self.fair is not None:
                self.fair.forget(held.job.sim.id)

    def release(self, t: float) -> None:
        """A pass of the dispatcher at ``t``: expiries, then the jobs held by a quota a job ending at ``t``
        freed, in priority order (``Dispatcher._attempt``: once a group's best job is still held, the rest of
        that group waits too; no backfill inside a group). Ties go to the earlier arrival, not round robin."""
        queue, fair = self.queue, self.fair
        assert queue is not None and fair is not None
        self.expire(t)
        candidates = queue.due()
        if not candidates:
            return
        version = fair.refresh(t)
        for held in candidates:  # priorities stand until the factors are recomputed, as in the model's queue
            if held.version != version:
                held.rank, held.version = (-fair.priority(held.entry[5], t), held.entry[0]), version
        candidates.sort(key=_RANK)
        stuck: set[tuple[str, ...]] = set()
        for held in candidates:
            if held.group not in stuck and held.job.sim.id in queue.jobs:
                group = held.group
                if self.retry(held, t):
                    stuck.update((group, held.group))

    def retry(self, held: Held, t: float) -> bool:
        """Decide ``held`` again at ``t`` (``Governance.admit_held``): admitted, denied for good, or — the
        answer — still held."""
        queue, job = self.queue, held.job
        assert queue is not None
        request = self.requests.request(job)
        decision, lien_id = self.governor.decide(request, job.sim.id, t)
        if lien_id is None and holdable(decision):
            queue.again(held, decision)
            return True
        queue.release(held)
        account = self.tally.record(decision, t)
        if lien_id is not None:
            self.admit(job.sim.id, self.model.intake.requeue(held.entry, t), request, decision, lien_id, account)
        elif self.fair is not None:
            self.fair.forget(job.sim.id)
        return False

    def start_new(self) -> None:
        placements, started, waited = self.model.schedule.placements, self.governor.started, self.tally.waited
        ends, waiting, fair = self.ends, self.waiting, self.fair
        for order in range(self.seen, len(placements)):
            placement = placements[order]
            lien_id, account, who, estimate = waiting.pop(placement.id)
            started(lien_id, placement.start, placement.end)
            heappush(ends, (placement.end, order, placement.start, lien_id, account))
            waited(account, placement.start - placement.submit)
            if fair is not None:
                fair.forget(placement.id)
                fair.usage.started(lien_id, who, estimate, estimate.walltime_hours, placement.start)
        self.seen = len(placements)

    def finish_until(self, until: float) -> None:
        ends, finished, charged = self.ends, self.governor.finished, self.tally.charged
        fair, queue = self.fair, self.queue
        while ends and ends[0][0] <= until:
            end, _order, start, lien_id, account = heappop(ends)
            amounts = finished(lien_id, start, end)
            if amounts is not None:
                charged(account, amounts)
            if fair is not None:
                fair.usage.finished(lien_id, amounts, end)
            if queue is not None:
                queue.ended(self.slots.pop(lien_id))


def _chunks(jobs: Sequence[TraceJob], every: int, progress: Progress | None) -> Iterator[Sequence[TraceJob]]:
    """The whole sequence at once without a progress callback; slices of ``every`` jobs with one."""
    if progress is None:
        yield jobs
        return
    every = max(every, 1)
    for start in range(0, len(jobs), every):
        yield jobs[start : start + every]
        progress(min(start + every, len(jobs)))
