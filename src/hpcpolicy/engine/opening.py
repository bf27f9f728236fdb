"""Opening hours in a decision: at ``now``, the route if it is open, else the first open fallback.

Whether a partition is open depends on the time, so it is decided in ``decide``. Everything else does
not, so ``prepare`` does it: routing finds the route's opening hours (when they bind the caller) and the
next accepting partitions, up to one always open to the caller, each with the reason it would be chosen
(:attr:`~hpcpolicy.engine.route.Routing.fallbacks`); :func:`opening` prepares a plan for each, as for a
request naming the partition (its own estimate, guards and quotas). :func:`open_plan` then only reads
the clock. A plan without binding hours has no :class:`Opening`, and ``decide`` pays one ``is None``
test for the feature.

A fallback may have quotas the route has not (a quota on a slice of the machine binds on some partitions
only): :attr:`Opening.quotas` are added to the plan's ``usage_quotas``, which a ledger reads, and such a
plan is not ``simple``. ``decide_balances``, which takes usage per quota of the plan, refuses a plan that
would fall back on other quotas (:func:`open_plan_alike`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING

from hpcpolicy.engine.codes import Code
from hpcpolicy.engine.decision import Route, Violation
from hpcpolicy.engine.hours import OpeningHours
from hpcpolicy.engine.partitionref import PartitionRef
from hpcpolicy.engine.quotaref import QuotaRef

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
    plans: tuple[Plan, ...]  # each fallback's plan, its route carrying the fallback's reason
    quotas: tuple[QuotaRef, ...]  # what deciding on those plans reads beyond the route's plan


def opening(
    routing: Routing, prepare: Prepare, request: Request, snap: PolicySnapshot, have: tuple[QuotaRef, ...]
) -> Opening | None:
    """The :class:`Opening` of a plan routed by ``routing`` (None: no hours bind the caller there);
    ``have``: the usage quotas of the route's own plan."""
    if routing.hours is None:
        return None
    plans: list[Plan] = []
    seen = {ref.id for ref in have}
    extra: list[QuotaRef] = []
    for fallback in routing.fallbacks:
        part = fallback.partition
        named = request.model_copy(update={"cluster": part.cluster, "partition": part.name})
        plan = prepare(named, snap)
        plans.append(replace(plan, route=Route(part.cluster, part.name, fallback.reason)))
        for ref in plan.usage_quotas:
            if ref.id not in seen:
                seen.add(ref.id)
                extra.append(ref)
    return Opening(routing.hours, routing.fallbacks, tuple(plans), tuple(extra))


def open_plan_alike(plan: Plan, now: datetime) -> Plan:
    """:func:`open_plan` for usage given per quota of ``plan``: refused when the open plan has other quotas."""
    chosen = open_plan(plan, now)
    if chosen.quotas != plan.quotas:
        raise ValueError(
            f"the plan falls back on {chosen.route.partition if chosen.route else '?'}, whose quotas differ from "
            "its route's: decide it with usage covering plan.usage_quotas"
        )
    return chosen


def open_plan(plan: Plan, now: datetime) -> Plan:
    """The plan to decide on at ``now``: ``plan`` if its route is open, else the first open fallback's,
    else ``plan`` with a ``partition.closed`` violation for its route and for each closed fallback."""
    held = plan.opening
    if held is None or held.hours.open_at(now):
        return plan
    for fallback, fallback_plan in zip(held.fallbacks, held.plans, strict=True):
        if fallback.hours is None or fallback.hours.open_at(now):
            return fallback_plan
    name = plan.route.partition if plan.route is not None else "?"
    closed = [closed_violation(name, held.hours, now)]
    closed += [closed_violation(f.partition.name, f.hours, now) for f in held.fallbacks if f.hours is not None]
    return replace(plan, violations=plan.violations + tuple(closed))


def closed_violation(name: str, hours: OpeningHours, now: datetime) -> Violation:
    """``partition.closed`` for partition ``name``: its hours, the local time, and when it next opens."""
    later = hours.next_opening(now)
    local = hours.local(now)
    message = f"partition {name} is closed at {local}; it takes jobs {hours.label}"
    if later is not None:
        message += f" (next opens {later})"
    return Violation(Code.PARTITION_CLOSED, message, f"partition:{name}", limit=hours.label, requested=local)
