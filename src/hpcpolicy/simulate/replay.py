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

A job that can never run (larger than the machine) is rejected by the model's intake before the
policy sees it and reported in ``schedule.skipped``. Cost per job is O(log n) in the model plus one
decision, so a replay stays linear in the trace (up to the log factor).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from heapq import heappop, heappush

from .governor import Governor
from .requests import RequestBuilder
from .scheduler import Model
from .source import TraceJob
from .tally import GovernanceTally
from .workload import Schedule

Progress = Callable[[int], None]
"""Called with the number of jobs submitted so far, every ``every`` jobs."""


@dataclass(slots=True)
class PolicyRun:
    """Everything the policy side needs: who decides, how jobs become requests, where figures go."""

    governor: Governor
    requests: RequestBuilder
    tally: GovernanceTally


def replay(
    jobs: Sequence[TraceJob],
    model: Model,
    policy: PolicyRun | None = None,
    *,
    progress: Progress | None = None,
    every: int = 5000,
) -> Schedule:
    """Replay ``jobs`` (sorted by submit) on ``model``, governed by ``policy`` unless it is None."""
    if policy is None:
        submit = model.submit
        for chunk in _chunks(jobs, every, progress):
            for job in chunk:
                submit(job.sim)
        return model.drain()
    return _Governed(model, policy).run(jobs, every, progress)


class _Governed:
    """The event loop's state: admitted jobs waiting to start, and running jobs by end time."""

    def __init__(self, model: Model, policy: PolicyRun) -> None:
        self.model = model
        self.governor: Governor = policy.governor
        self.requests = policy.requests
        self.tally = policy.tally
        self.waiting: dict[str, tuple[str, str]] = {}  # job id → (lien id, account): admitted, not started
        self.ends: list[tuple[float, int, float, str, str]] = []  # heap (end, order, start, lien id, account)
        self.seen = 0  # placements already started in the ledger

    def run(self, jobs: Sequence[TraceJob], every: int, progress: Progress | None) -> Schedule:
        model, governor, tally, request = self.model, self.governor, self.tally, self.requests.request
        entry_for, advance, enqueue = model.intake.entry, model.advance, model.enqueue
        placements, ends, waiting = model.schedule.placements, self.ends, self.waiting
        for chunk in _chunks(jobs, every, progress):
            for job in chunk:
                entry = entry_for(job.sim)
                if entry is None:
                    continue
                t = entry[1]
                advance(t)
                if len(placements) > self.seen:
                    self.start_new()
                if ends and ends[0][0] <= t:
                    self.finish_until(t)
                decision, lien_id = governor.decide(request(job), job.sim.id, t)
                account = tally.record(decision, t)
                if lien_id is not None:
                    waiting[job.sim.id] = (lien_id, account)
                    enqueue(entry)
        schedule = model.drain()
        self.start_new()
        self.finish_until(float("inf"))
        return schedule

    def start_new(self) -> None:
        placements, started = self.model.schedule.placements, self.governor.started
        ends, waiting = self.ends, self.waiting
        for order in range(self.seen, len(placements)):
            placement = placements[order]
            lien_id, account = waiting.pop(placement.id)
            started(lien_id, placement.start, placement.end)
            heappush(ends, (placement.end, order, placement.start, lien_id, account))
        self.seen = len(placements)

    def finish_until(self, until: float) -> None:
        ends, finished, charged = self.ends, self.governor.finished, self.tally.charged
        while ends and ends[0][0] <= until:
            end, _order, start, lien_id, account = heappop(ends)
            amounts = finished(lien_id, start, end)
            if amounts is not None:
                charged(account, amounts)


def _chunks(jobs: Sequence[TraceJob], every: int, progress: Progress | None) -> Iterator[Sequence[TraceJob]]:
    """The whole sequence at once without a progress callback; slices of ``every`` jobs with one."""
    if progress is None:
        yield jobs
        return
    every = max(every, 1)
    for start in range(0, len(jobs), every):
        yield jobs[start : start + every]
        progress(min(start + every, len(jobs)))
