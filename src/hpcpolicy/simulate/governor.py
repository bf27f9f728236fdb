"""The policy side of a replay: decide at submit (taking a lien), start, and charge actual usage at the end.

Two implementations of one small interface (:class:`Governor`), in trace seconds:

* :class:`LedgerGovernor` — the replay's own: the in-memory ledger and the shared balance rules of
  :mod:`hpcpolicy.ledger.rules` (``snapshot``, ``lien_for``, ``actual_amounts``), called in the order
  :class:`~hpcpolicy.service.Governance` and :class:`~hpcpolicy.service.jobs.Jobs` call them, without
  what a replay never reads (decision records, uuids, sessions, idempotency keys).
* :class:`ServiceGovernor` — the service layer itself over any ledger (SQLite in the tests), with a
  virtual clock. Slow, but it is the reference the fast one is tested against.

One shortcut, which changes no balance: a lien is marked ``running`` only when the job would outlive
its reservation's TTL. Until ``expires_at`` a reserved lien counts exactly as a running one (see
:mod:`hpcpolicy.ledger.rules`), and a job that ends before then is closed before any later decision.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from itertools import count
from typing import Any, Protocol

from hpcpolicy.engine import (
    Amounts,
    Decision,
    Estimate,
    PolicySnapshot,
    QuotaRef,
    RejectedRoute,
    Request,
    Route,
    Violation,
    evaluate,
    quotas_on_path,
    resolve_account,
)
from hpcpolicy.ledger import Charge, JobUsage, LienState
from hpcpolicy.ledger.memory import MemoryLedger
from hpcpolicy.ledger.rules import actual_amounts, lien_for, snapshot
from hpcpolicy.service import Governance

from .clock import TraceClock, VirtualClock

CALLER = "simulate"


class Governor(Protocol):
    snapshot: PolicySnapshot

    def decide(self, request: Request, job_id: str, t: float) -> tuple[Decision, str | None]:
        """The decision at trace time ``t`` and, when admitted, the id of the lien taken."""
        ...

    def started(self, lien_id: str, start: float, end: float) -> None: ...

    def finished(self, lien_id: str, start: float, end: float) -> Amounts | None:
        """Close the lien at ``end``; charge ``end − start`` hours of the job's resources. The charge, if any."""
        ...


class LedgerGovernor:
    def __init__(
        self, snap: PolicySnapshot, clock: TraceClock, lien_ttl: timedelta, ledger: MemoryLedger | None = None
    ) -> None:
        self.snapshot = snap
        self.clock = clock
        self.ttl = lien_ttl
        self.ttl_seconds = lien_ttl.total_seconds()
        self.ledger = ledger if ledger is not None else MemoryLedger()
        self._quotas: dict[tuple[str, str | None], tuple[QuotaRef, ...]] = {}
        self._deadline: dict[str, float] = {}  # lien id → trace time its reservation expires
        self._ids = count(1)

    def decide(self, request: Request, job_id: str, t: float) -> tuple[Decision, str | None]:
        snap, ledger, now = self.snapshot, self.ledger, self.clock.at(t)
        key = (request.user_id, request.project)
        quotas = self._quotas.get(key)
        if quotas is None:  # the path depends on user and project only; resolve once per pair
            project, _path, _problems = resolve_account(request, snap)
            quotas = self._quotas[key] = quotas_on_path(request, snap, project)
        reserved = ledger.reserved
        usage = snapshot(quotas, now, ledger.settled, lambda scope: reserved(scope, now))
        decision = evaluate(request, snap, usage, now=now)
        if not decision.allow:
            return decision, None
        lien_id = str(next(self._ids))
        lien = lien_for(lien_id, request, decision, snap, now, self.ttl, job_id)
        if lien is None:  # allowed without a route cannot happen; be explicit rather than assert
            return decision, None
        ledger.add_lien(lien)
        self._deadline[lien_id] = t + self.ttl_seconds
        return decision, lien_id

    def started(self, lien_id: str, start: float, end: float) -> None:
        if end < self._deadline.pop(lien_id):
            return  # closed before its reservation expires: "running" would count the same
        lien = self.ledger.liens[lien_id]
        self.ledger.update_lien(replace(lien, state=LienState.RUNNING, started_at=self.clock.at(start)))

    def finished(self, lien_id: str, start: float, end: float) -> Amounts | None:
        ledger = self.ledger
        self._deadline.pop(lien_id, None)
        lien = ledger.liens[lien_id]
        at = self.clock.at(end)
        ledger.update_lien(replace(lien, state=LienState.FINISHED, ended_at=at))
        hours = (end - start) / 3600.0
        if hours <= 0:
            return None
        amounts = actual_amounts(lien, JobUsage(hours))
        ledger.add_charge(
            Charge(
                id=lien_id,
                lien_id=lien_id,
                job_id=lien.job_id,
                user_id=lien.user_id,
                project=lien.project,
                team=lien.team,
                org=lien.org,
                cluster=lien.cluster,
                partition=lien.partition,
                amounts=amounts,
                at=at,
                source=LienState.FINISHED.value,
                key=f"lien:{lien_id}",
            )
        )
        return amounts


class ServiceGovernor:
    """:class:`Governance` (decide with reserve, jobs.start, jobs.finish) on a virtual clock."""

    def __init__(self, governance: Governance, clock: TraceClock, virtual: VirtualClock):
        self.governance = governance
        self.snapshot = governance.ctx.policies.current.snapshot
        self.clock = clock
        self.virtual = virtual

    def decide(self, request: Request, job_id: str, t: float) -> tuple[Decision, str | None]:
        self.virtual.now = self.clock.at(t)
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
    """Rebuild a :class:`Decision` from its JSON form (``Decision.to_dict``)."""
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
    )
