"""The policy side of a replay: decide at submit (taking a lien), start, and charge actual usage at the end.

Two implementations of one small interface (:class:`Governor`), in trace seconds:

* :class:`LedgerGovernor` — the replay's own: the in-memory ledger and the shared balance rules of
  :mod:`hpcpolicy.ledger.rules` (``snapshot``'s rule, here through ``MemoryLedger.balances``; ``lien_for``;
  ``actual_amounts``), called in the order :class:`~hpcpolicy.service.Governance` and
  :class:`~hpcpolicy.service.jobs.Jobs` call them, without what a replay never reads (decision records,
  uuids, sessions, idempotency keys). ``tests/simulate/test_fast_governor.py`` checks it decision for
  decision and record for record against the same calls made through the generic ledger contract.
* :class:`ServiceGovernor` — the service layer itself over any ledger (SQLite in the tests), with a
  virtual clock. Slow, but it is the reference the fast one is tested against.

One shortcut, which changes no balance: a lien is marked ``running`` only when the job would outlive
its reservation's TTL. Until ``expires_at`` a reserved lien counts exactly as a running one (see
:mod:`hpcpolicy.ledger.rules`), and a job that ends before then is closed before any later decision.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from itertools import count
from typing import Any, Protocol

from hpcpolicy.engine import (
    Amounts,
    Decision,
    Estimate,
    Plan,
    PolicySnapshot,
    RejectedRoute,
    Request,
    Route,
    Violation,
    decide,
    decide_balances,
    prepare,
)
from hpcpolicy.ledger import JobUsage, Lien, LienState
from hpcpolicy.ledger.memory import MemoryLedger, Resolved
from hpcpolicy.ledger.rules import actual_amounts, lien_for, raw_hours
from hpcpolicy.service import Governance

from .clock import TraceClock, VirtualClock

CALLER = "simulate"
_PLAN_LIMIT = 200_000  # distinct requests planned before the cache starts over (as the request builder's)
_RUNNING, _FINISHED = LienState.RUNNING, LienState.FINISHED
_SOURCE = LienState.FINISHED.value  # a charge's source; looked up once (an enum's .value is a property)


Vet = Callable[[Decision], Decision]


class Governor(Protocol):
    snapshot: PolicySnapshot

    def decide(self, request: Request, job_id: str, t: float, vet: Vet | None = None) -> tuple[Decision, str | None]:
        """The decision at trace time ``t`` and, when admitted, the id of the lien taken. ``vet`` may turn the
        engine's decision into a refusal before any lien is taken (queued admission: ``behind_the_queue``)."""
        ...

    def started(self, lien_id: str, start: float, end: float) -> None: ...

    def finished(self, lien_id: str, start: float, end: float) -> Amounts | None:
        """Close the lien at ``end``; charge ``end − start`` hours of the job's resources. The charge, if any."""
        ...


class _Prepared:
    """A request's :class:`Plan`, its quotas resolved in the ledger and, once one was admitted, its first
    lien (the template of the next)."""

    __slots__ = ("carried", "lien", "plan", "quotas", "request", "usage")

    def __init__(self, request: Request, plan: Plan, quotas: Resolved, usage: Resolved = ()) -> None:
        self.request = request
        self.plan = plan
        self.quotas = quotas
        self.usage = usage  # plan.usage_quotas resolved, for a plan that is not simple
        self.lien: Lien | None = None
        # the quotas with carry-over: the decision reads their previous window too
        self.carried = tuple(q for q in quotas if q[0].soft is not None and q[0].soft.carry is not None)


class LedgerGovernor:
    """Decide, start and finish on the in-memory ledger, as the service layer would.

    Per distinct request (the request builder hands out one object per job shape) the engine's
    :func:`prepare` runs once, and the lien :func:`lien_for` makes for its first admission serves as a
    template for the next ones: everything in a lien but its id, times and job id follows from the
    request and the decision's route, path and estimate, which the plan fixes. Each decision then costs
    the balance lookups (:meth:`MemoryLedger.balances`) and the quota checks (:func:`decide_balances`) only.
    """

    def __init__(
        self, snap: PolicySnapshot, clock: TraceClock, lien_ttl: timedelta, ledger: MemoryLedger | None = None
    ) -> None:
        self.snapshot = snap
        self.clock = clock
        self.ttl = lien_ttl
        self.ttl_seconds = lien_ttl.total_seconds()
        self.ledger = ledger if ledger is not None else MemoryLedger()
        self._prepared: dict[int, _Prepared] = {}  # id(request) → plan; holding the request keeps its id
        self._resolved: dict[tuple[object, ...], Resolved] = {}  # (user, project, route, GPUs) → quotas, resolved
        self._deadline: dict[str, float] = {}  # lien id → trace time its reservation expires
        self._ids = count(1)

    def decide(self, request: Request, job_id: str, t: float, vet: Vet | None = None) -> tuple[Decision, str | None]:
        ledger, now = self.ledger, self.clock.at(t)
        prepared = self._prepared.get(id(request))
        if prepared is None or prepared.request is not request:
            prepared = self._prepare(request)
        plan = prepared.plan
        if plan.simple:
            used, active = ledger.balances(prepared.quotas, now)
            previous = ledger.previous(prepared.carried, now) if prepared.carried else None
            decision = decide_balances(plan, used, active, now=now, previous=previous)
        else:  # shares, fallbacks or opening hours: the generic path, with every fact they read
            decision = decide(plan, ledger.usage_of(prepared.usage, now), now=now)
        if vet is not None:
            decision = vet(decision)
        if not decision.allow:
            return decision, None
        lien_id = str(next(self._ids))
        template = prepared.lien
        if template is None or decision.route != plan.route:  # first admission, or rerouted (on_exhausted)
            lien = lien_for(lien_id, request, decision, self.snapshot, now, self.ttl, job_id)
            if lien is None:  # allowed without a route cannot happen; be explicit rather than assert
                return decision, None
            if decision.route == plan.route:
                prepared.lien = lien
        else:
            lien = template.reissued(lien_id, now, now + self.ttl, job_id)
        ledger.add_lien(lien)
        self._deadline[lien_id] = t + self.ttl_seconds
        return decision, lien_id

    def started(self, lien_id: str, start: float, end: float) -> None:
        if end < self._deadline.pop(lien_id):
            return  # closed before its reservation expires: "running" would count the same
        lien = self.ledger.get_lien(lien_id)
        assert lien is not None  # the governor made it
        self.ledger.update_lien(lien.with_state(_RUNNING, started_at=self.clock.at(start)))

    def finished(self, lien_id: str, start: float, end: float) -> Amounts | None:
        """As ``Jobs.finish``: the lien closed as finished and, for a positive run, a charge keyed
        ``lien:<id>`` of the actual usage at the lien's rates (:meth:`MemoryLedger.close_lien`)."""
        ledger = self.ledger
        self._deadline.pop(lien_id, None)
        lien = ledger.get_lien(lien_id)
        assert lien is not None  # the governor made it
        at = self.clock.at(end)
        hours = (end - start) / 3600.0
        if hours <= 0:
            ledger.close_lien(lien_id, _FINISHED, at)
            return None
        usage = JobUsage(hours)
        amounts = actual_amounts(lien, usage)
        charge = (lien_id, amounts, _SOURCE, f"lien:{lien_id}", raw_hours(lien, usage))
        ledger.close_lien(lien_id, _FINISHED, at, charge)
        return amounts

    def _prepare(self, request: Request) -> _Prepared:
        if len(self._prepared) >= _PLAN_LIMIT:
            self._prepared.clear()
        plan = prepare(request, self.snapshot)
        # The quotas on the path follow from user, project and route alone (the route picks the sliced
        # quotas that bind): resolve them once per such key, which also lets every request with it share
        # the cursors that speed up the balance lookups.
        key = (request.user_id, plan.project, plan.route, request.gpus > 0 and (request.gpu_type or "?"))
        quotas = self._resolved.get(key)
        if quotas is None:
            quotas = self._resolved[key] = self.ledger.resolve(plan.quotas)
        usage: Resolved = ()
        if not plan.simple:  # what the generic path reads (shares, fallbacks' quotas): named by its quota ids
            ids = tuple(ref.id for ref in plan.usage_quotas)
            usage = self._resolved.get(ids) or self._resolved.setdefault(ids, self.ledger.resolve(plan.usage_quotas))
        prepared = self._prepared[id(request)] = _Prepared(request, plan, quotas, usage)
        return prepared


class ServiceGovernor:
    """:class:`Governance` (decide with reserve, jobs.start, jobs.finish) on a virtual clock."""

    def __init__(self, governance: Governance, clock: TraceClock, virtual: VirtualClock):
        self.governance = governance
        self.snapshot = governance.ctx.policies.current.snapshot
        self.clock = clock
        self.virtual = virtual

    def decide(self, request: Request, job_id: str, t: float, vet: Vet | None = None) -> tuple[Decision, str | None]:
        self.virtual.now = self.clock.at(t)
        if vet is not None:  # vetted first on a dry run (a reference, not fast: two evaluations)
            vetted = vet(self.governance.check(request))
            if not vetted.allow:
                return vetted, None
        outcome = self.governance.decide(request, CALLER, reserve=True, job_id=job_id)
        return decision_from_dict(outcome.decision), outcome.lien_id

    def started(self, lien_id: str, start: float, end: float) -> None:
        self.virtual.now = at = self.clock.at(start)
        self.governance.jobs.start(lien_id, at=at)

    def finished(self, lien_id: str, start: float, end: float) -> Amounts | None:
        self.virtual.now = at = self.clock.at(end)
        _lien, charge = self.governance.jobs.finish(lien_id, JobUsage((end - start) / 3600.0), at=at)
        return charge.amounts if charge is not None else None


def decision_from_dict(body: dict[str, Any]) -> Decision:
    """Rebuild a :class:`Decision` from its JSON form (``Decision.to_dict``; a route recorded before routes
    carried a ``reason`` gets an empty one)."""
    route = body["route"]
    return Decision(
        allow=body["allow"],
        violations=tuple(Violation(**v) for v in body["violations"]),
        route=Route(**route) if route else None,
        estimate=Estimate(**body["estimate"]),
        remaining=body["remaining"],
        policy_version=body["policy_version"],
        project=body["project"],
        account_path=tuple(body["account_path"]),
        rejected_routes=tuple(
            RejectedRoute(r["cluster"], r["partition"], tuple(Violation(**v) for v in r["violations"]))
            for r in body["rejected_routes"]
        ),
        warnings=tuple(Violation(**w) for w in body.get("warnings", ())),
    )
