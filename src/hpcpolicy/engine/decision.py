"""What the engine answers. JSON field names here are a public contract (API, CLI ``--json``, logs).

Plain slotted dataclasses rather than Pydantic models: a decision is built on the hot path (tens of
microseconds budget), and it is only ever produced by the engine, never parsed from untrusted input.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hpcpolicy.engine.records import fast_init

Number = float | int
Bound = Number | str | None


def num(value: float) -> str:
    """A number for messages: ``1000000``, ``12.5``, ``0.0833`` — never ``1e+06``."""
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.6f}".rstrip("0").rstrip(".") if abs(value) >= 1e-4 else f"{value:.3g}"


@fast_init
@dataclass(frozen=True, slots=True)
class Violation:
    """One failed rule: its stable ``code``, what it applied to (``scope``) and the numbers involved.

    ``limit`` is the rule's bound, ``requested`` what the job asks for, ``available`` what was left
    before this job (quota and concurrency rules; None where it does not apply).
    """

    code: str
    message: str
    scope: str
    limit: Bound = None
    requested: Bound = None
    available: Number | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "message": self.message,
            "scope": self.scope,
            "limit": self.limit,
            "requested": self.requested,
            "available": self.available,
        }


@fast_init
@dataclass(frozen=True, slots=True)
class Route:
    """Where the job runs, and why there: ``"named"``, or how routing chose it ("cheapest of 4
    candidates; cheaper rejected: gpu (limit.gpus_per_node)"). Empty in records written before v2."""

    cluster: str
    partition: str
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"cluster": self.cluster, "partition": self.partition, "reason": self.reason}


@fast_init
@dataclass(frozen=True, slots=True)
class Estimate:
    """What the job will consume if it runs for its whole walltime; the amount a lien reserves."""

    cpu_hours: float
    gpu_hours: float
    cost: float
    walltime_hours: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "cpu_hours": self.cpu_hours,
            "gpu_hours": self.gpu_hours,
            "cost": self.cost,
            "walltime_hours": self.walltime_hours,
        }


@fast_init
@dataclass(frozen=True, slots=True)
class RejectedRoute:
    """A partition considered while routing, and why it could not take the job."""

    cluster: str
    partition: str
    violations: tuple[Violation, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "cluster": self.cluster,
            "partition": self.partition,
            "violations": [v.to_dict() for v in self.violations],
        }


@fast_init
@dataclass(frozen=True, slots=True)
class Decision:
    """The full answer.

    ``remaining`` maps each quota id on the account path to its balances *after* this job
    (limit − consumed − estimate; negative when the job does not fit). ``account_path`` lists the scopes
    charged, most specific first (``user:…``, ``project:…``, ``team:…``, ``org:…``). ``warnings`` are
    non-blocking findings (a budget past a threshold, an overdraft used, a job rerouted), with the same
    fields as violations and stable codes; they never change ``allow``.
    """

    allow: bool
    violations: tuple[Violation, ...]
    route: Route | None
    estimate: Estimate
    remaining: dict[str, dict[str, float]]
    policy_version: str
    project: str | None
    account_path: tuple[str, ...]
    rejected_routes: tuple[RejectedRoute, ...] = ()
    warnings: tuple[Violation, ...] = ()

    @property
    def codes(self) -> list[str]:
        return [str(v.code) for v in self.violations]

    @property
    def warning_codes(self) -> list[str]:
        return [str(w.code) for w in self.warnings]

    def to_dict(self) -> dict[str, Any]:
        return {
            "allow": self.allow,
            "violations": [v.to_dict() for v in self.violations],
            "route": self.route.to_dict() if self.route else None,
            "estimate": self.estimate.to_dict(),
            "remaining": self.remaining,
            "policy_version": self.policy_version,
            "project": self.project,
            "account_path": list(self.account_path),
            "rejected_routes": [r.to_dict() for r in self.rejected_routes],
            "warnings": [w.to_dict() for w in self.warnings],
        }
