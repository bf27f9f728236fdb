"""Ledger records rebuilt from audit events: the log is complete enough to replay the ledger.

``hpcpolicy audit explain`` replays the events sealed before a decision into an in-memory ledger and so
sees the usage the decision saw, from the verified chain rather than from tables an admin may have
edited since. A lien's path (team, org) comes from the event's scopes; fields older events lack (a
lien's rates and weights, recorded since they were added) take the defaults, which do not change what a
lien holds.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hpcpolicy.engine import Amounts
from hpcpolicy.ledger.base import LedgerSession
from hpcpolicy.ledger.events import ADJUSTMENT_RECORDED, CHARGE_RECORDED, LIEN_RESERVED, LIEN_STATE, Event
from hpcpolicy.ledger.model import Adjustment, AdjustmentKind, Charge, Lien, LienState

#: The event types that change balances, in the order a replay needs them applied (the log's order).
USAGE_TYPES = frozenset({LIEN_RESERVED, CHARGE_RECORDED, ADJUSTMENT_RECORDED, *LIEN_STATE.values()})


def apply(event: Event, tx: LedgerSession) -> None:
    """Apply one usage event to ``tx`` as the original write did (other types are ignored)."""
    if event.type == LIEN_RESERVED:
        tx.add_lien(lien_of(event))
    elif event.type in _LIEN_UPDATES:
        tx.update_lien(lien_of(event))
    elif event.type == CHARGE_RECORDED:
        tx.add_charge(charge_of(event))
    elif event.type == ADJUSTMENT_RECORDED:
        tx.add_adjustment(adjustment_of(event))


_LIEN_UPDATES = frozenset(LIEN_STATE.values())


def lien_of(event: Event) -> Lien:
    d, path = event.data, _path(event)
    rates = tuple(d.get("rates") or (0.0, 0.0, 0.0))
    weights = tuple(d.get("weights") or (1.0, 1.0))
    return Lien(
        d["id"], d["decision_id"], d["user_id"], d["project"], path.get("team"), path.get("org"), d["cluster"],
        d["partition"], d["cpus"], d["gpus"], d["gpu_type"], d["memory_gb"], d["nodes"], d["walltime_hours"],
        _amounts(d), (rates[0], rates[1], rates[2]), _time(d["created_at"]), _time(d["expires_at"]),
        LienState(d["state"]), d["job_id"], _maybe_time(d["started_at"]), _maybe_time(d["ended_at"]),
        d["policy_version"], (weights[0], weights[1]), d.get("service"), _maybe_time(d.get("closed_at")),
    )  # fmt: skip


def charge_of(event: Event) -> Charge:
    d, path = event.data, _path(event)
    raw = d.get("raw_hours")
    return Charge(
        d["id"], d["lien_id"], d["job_id"], d["user_id"], d["project"], path.get("team"), path.get("org"),
        d["cluster"], d["partition"], _amounts(d), _time(d["at"]), d["source"], d["key"], d["gpu_type"],
        (float(raw[0]), float(raw[1])) if raw else None,
    )  # fmt: skip


def adjustment_of(event: Event) -> Adjustment:
    d = event.data
    return Adjustment(d["id"], d["scope"], AdjustmentKind(d["kind"]), _amounts(d), d["reason"], d["author"],
                      event.time, d["key"])  # fmt: skip


def _amounts(d: dict[str, Any]) -> Amounts:
    return Amounts(float(d["cpu_hours"]), float(d["gpu_hours"]), float(d["cost"]))


def _path(event: Event) -> dict[str, str]:
    return dict(scope.split(":", 1) for scope in event.scopes if ":" in scope)


def _time(text: str) -> datetime:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _maybe_time(text: str | None) -> datetime | None:
    return _time(text) if text else None
