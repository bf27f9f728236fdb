"""Opening hours in a decision: the plan for each partition the job may use, and at ``now`` the first open one.

Whether a partition is open depends on the time, so it is decided in ``decide``; everything else about
using a partition does not, so :func:`scheduled` prepares, along with the plan for the route, one plan
for each fallback that routing found (:attr:`~hpcpolicy.engine.route.Routing.fallbacks`: the next
accepting partitions, up to one always open to the caller). :func:`open_plan` then only reads the clock.
A plan whose route has no opening hours for this caller has no :class:`Opening`, and ``decide`` pays one
``is None`` test for the feature.

The fallbacks' plans are prepared like requests naming the partition (so their estimate, guards and
quotas are theirs). The usage a caller supplies must cover the quotas of every plan it may be decided
on: today every plan of one request has the same quotas (they follow from user and project).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING

from hpcpolicy.engine.codes import Code
from hpcpolicy.engine.decision import Route, Violation
from hpcpolicy.engine.hours import OpeningHours
from hpcpolicy.engine.route import Routing

if TYPE_CHECKING:
    from hpcpolicy.engine.evaluate import Plan
    from hpcpolicy.engine.request import Request
    from hpcpolicy.engine.snapshot import PolicySnapshot


@dataclass(frozen=True, slots=True)
class Opening:
    """The route's opening hours (which bind this caller) and the plans to fall back on while it is closed."""

    hours: OpeningHours
    fallbacks: tuple[Plan, ...]


def scheduled(plan: Plan, routing: Routing, prepare: Callable[[Request, PolicySnapshot], Plan]) -> Plan:
    """``plan`` with its :class:`Opening` (``routing.hours`` is set): fallback plans prepared once, here."""
    if routing.hours is None:  # always open to this caller: nothing to decide at ``now``
        return plan
    fallbacks = []
    for part, reason in routing.fallbacks:
        named = plan.request.model_copy(update={"cluster": part.cluster, "partition": part.name})
        fallback = prepare(named, plan.snap)
        fallbacks.append(replace(fallback, route=Route(part.cluster, part.name, reason)))
    return replace(plan, opening=Opening(routing.hours, tuple(fallbacks)))


def open_plan(plan: Plan, now: datetime) -> Plan:
    """The plan to decide on at ``now``: ``plan`` if its route is open, else the first open fallback,
    else ``plan`` with a ``partition.closed`` violation for its route and for each closed fallback."""
    opening = plan.opening
    if opening is None or opening.hours.open_at(now):
        return plan
    for fallback in opening.fallbacks:
        if fallback.opening is None or fallback.opening.hours.open_at(now):
            return fallback
    closed = [closed_violation(plan, opening.hours, now)]
    closed += [closed_violation(f, f.opening.hours, now) for f in opening.fallbacks if f.opening is not None]
    return replace(plan, violations=plan.violations + tuple(closed))


def closed_violation(plan: Plan, hours: OpeningHours, now: datetime) -> Violation:
    name = plan.route.partition if plan.route is not None else "?"
    later = hours.next_opening(now)
    message = f"partition {name} is closed at {hours.local(now)}; it takes jobs {hours.label}"
    if later is not None:
        message += f" (next opens {later})"
    return Violation(Code.PARTITION_CLOSED, message, f"partition:{name}", limit=hours.label, requested=hours.local(now))
