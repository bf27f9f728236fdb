"""Opening hours in a decision: at ``now``, the route if it is open, else the first open fallback.

Whether a partition is open depends on the time, so it is decided in ``decide``. Routing, in
``prepare``, already found what does not depend on it: the route's opening hours (when they bind the
caller) and the next accepting partitions, up to one always open to the caller, each with the reason it
would be chosen (:attr:`~hpcpolicy.engine.route.Routing.fallbacks`). A plan without binding hours has no
:class:`Opening`, and ``decide`` pays one ``is None`` test for the feature.

A fallback is decided on its own plan (its estimate, guards and quotas are its own), prepared like a
request naming the partition. That plan is made the first time the fallback is chosen and kept in the
:class:`Opening` (a memo of a pure result, as the plan itself is one), so a decision while the route is
open costs one clock reading, and a replay that reuses the plan prepares each fallback once.

A fallback may have quotas the route has not (a quota on a slice of the machine binds on some partitions
only), so the usage given to ``decide`` must cover :func:`usage_quotas`: the route's quotas and every
fallback's. ``decide_balances``, which takes usage per quota of the plan, refuses a plan that would fall
back on other quotas (:func:`open_plan_alike`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING

from hpcpolicy.engine.codes import Code
from hpcpolicy.engine.decision import Route, Violation
from hpcpolicy.engine.hours import OpeningHours
from hpcpolicy.engine.partitionref import PartitionRef
from hpcpolicy.engine.quotaref import QuotaRef
from hpcpolicy.engine.rules.path import quotas_on_path

if TYPE_CHECKING:
    from hpcpolicy.engine.evaluate import Plan
    from hpcpolicy.engine.request import Request
    from hpcpolicy.engine.route import Routing
    from hpcpolicy.engine.snapshot import PolicySnapshot

Prepare = Callable[["Request", "PolicySnapshot"], "Plan"]


@dataclass(frozen=True, slots=True)
class Fallback:
    """An accepting partition to use while the cheaper ones are closed."""

    partition: PartitionRef
    reason: str  # the route's reason when it is chosen
    hours: OpeningHours | None  # its own hours, when they bind the caller (None: always open to them)


@dataclass(frozen=True, slots=True)
class Opening:
    """The route's opening hours (which bind this caller) and what to fall back on while it is closed."""

    hours: OpeningHours
    fallbacks: tuple[Fallback, ...]
    quotas: tuple[QuotaRef, ...]  # the fallbacks' quotas that the route's are not
    prepare: Prepare = field(compare=False)
    plans: list[Plan | None] = field(compare=False)  # the fallbacks' plans, made when first chosen


def opening(
    routing: Routing, prepare: Prepare, request: Request, snap: PolicySnapshot, project: str | None
) -> Opening | None:
    """The :class:`Opening` of a plan whose route is ``routing`` (None: no hours bind the caller there)."""
    if routing.hours is None:
        return None
    seen = {ref.id for ref in quotas_on_path(request, snap, project, routing.partition)}
    extra: list[QuotaRef] = []
    for fallback in routing.fallbacks:
        for ref in quotas_on_path(request, snap, project, fallback.partition):
            if ref.id not in seen:
                seen.add(ref.id)
                extra.append(ref)
    return Opening(routing.hours, routing.fallbacks, tuple(extra), prepare, [None] * len(routing.fallbacks))


def usage_quotas(plan: Plan) -> tuple[QuotaRef, ...]:
    """The quotas whose usage ``decide(plan, usage)`` may read: the route's, and its fallbacks'."""
    return plan.quotas if plan.opening is None else plan.quotas + plan.opening.quotas


def open_plan_alike(plan: Plan, now: datetime) -> Plan:
    """:func:`open_plan` for usage given per quota of ``plan``: refused when the open plan has other quotas."""
    chosen = open_plan(plan, now)
    if chosen.quotas != plan.quotas:
        raise ValueError(
            f"the plan falls back on {chosen.route.partition if chosen.route else '?'}, whose quotas differ from "
            "its route's: decide it with usage covering usage_quotas(plan)"
        )
    return chosen


def open_plan(plan: Plan, now: datetime) -> Plan:
    """The plan to decide on at ``now``: ``plan`` if its route is open, else the first open fallback's,
    else ``plan`` with a ``partition.closed`` violation for its route and for each closed fallback."""
    held = plan.opening
    if held is None or held.hours.open_at(now):
        return plan
    for i, fallback in enumerate(held.fallbacks):
        if fallback.hours is None or fallback.hours.open_at(now):
            return _fallback_plan(plan, held, i)
    name = plan.route.partition if plan.route is not None else "?"
    closed = [closed_violation(name, held.hours, now)]
    closed += [closed_violation(f.partition.name, f.hours, now) for f in held.fallbacks if f.hours is not None]
    return replace(plan, violations=plan.violations + tuple(closed))


def _fallback_plan(plan: Plan, held: Opening, i: int) -> Plan:
    made = held.plans[i]
    if made is None:
        part, reason = held.fallbacks[i].partition, held.fallbacks[i].reason
        named = plan.request.model_copy(update={"cluster": part.cluster, "partition": part.name})
        made = replace(held.prepare(named, plan.snap), route=Route(part.cluster, part.name, reason))
        held.plans[i] = made  # a pure result: two threads racing here store equal plans
    return made


def closed_violation(name: str, hours: OpeningHours, now: datetime) -> Violation:
    """``partition.closed`` for partition ``name``: its hours, the local time, and when it next opens."""
    later = hours.next_opening(now)
    local = hours.local(now)
    message = f"partition {name} is closed at {local}; it takes jobs {hours.label}"
    if later is not None:
        message += f" (next opens {later})"
    return Violation(Code.PARTITION_CLOSED, message, f"partition:{name}", limit=hours.label, requested=local)
