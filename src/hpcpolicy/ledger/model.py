"""Ledger records. Plain dataclasses: the SQL layer maps them to rows, the memory ledger keeps them as is.

A job's life: the admitted decision takes a **lien** (the estimate, reserved); the scheduler reports
``start`` (job id attached) and ``finish`` with actual usage, which becomes a **charge** while the lien is
released; ``cancel``/``fail`` release it (charging any usage reported); a lien never started expires
after its TTL. Admins add **adjustments** (grants, refunds, deposits, debits) with a reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from hpcpolicy.engine.forecast import Forecast
from hpcpolicy.engine.records import fast_init
from hpcpolicy.engine.usage import Amounts


class LienState(StrEnum):
    RESERVED = "reserved"  # admitted, not started: counts until it expires
    RUNNING = "running"  # started: counts until finished, whatever its age
    FINISHED = "finished"
    CANCELLED = "cancelled"
    FAILED = "failed"
    EXPIRED = "expired"  # never started within its TTL


class AdjustmentKind(StrEnum):
    """Grant, refund and deposit give budget back (reduce consumption); debit takes it."""

    GRANT = "grant"
    REFUND = "refund"
    DEPOSIT = "deposit"
    DEBIT = "debit"


@fast_init
@dataclass(frozen=True, slots=True)
class Lien:
    id: str
    decision_id: str
    user_id: str
    project: str | None
    team: str | None
    org: str | None
    cluster: str
    partition: str
    cpus: int
    gpus: int
    gpu_type: str | None  # the type the job's GPUs are (asked for, else the nodes'); None without GPUs
    memory_gb: float
    nodes: int
    walltime_hours: float
    amounts: Amounts  # the estimate reserved
    rates: tuple[float, float, float]  # unit prices at admission: CPU-h, GPU-h, memory GB-h
    created_at: datetime
    expires_at: datetime
    state: LienState = LienState.RESERVED
    job_id: str | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    policy_version: str = ""
    weights: tuple[float, float] = (1.0, 1.0)  # how a CPU-hour and a GPU-hour count against budgets
    service: str | None = None  # the web application or workflow that sent the request (policy ``services``)
    closed_at: datetime | None = None
    """When the service recorded the lien's end (its clock), whatever end time the report stated: the
    admission queue's dispatcher reads the slots freed since it last looked by this."""

    # Both helpers below are ``dataclasses.replace`` with fewer moving parts: ``replace`` inspects the
    # fields and builds a keyword dict on every call, which cost more than the rest of a lien's state
    # change in the trace replay (two of them per job). Positional, so a new field must be added here.

    def with_state(
        self, state: LienState, *, started_at: datetime | None = None, ended_at: datetime | None = None
    ) -> Lien:
        """This lien in ``state``; ``started_at``/``ended_at`` when given, else the lien's own."""
        return Lien(
            self.id, self.decision_id, self.user_id, self.project, self.team, self.org, self.cluster,
            self.partition, self.cpus, self.gpus, self.gpu_type, self.memory_gb, self.nodes, self.walltime_hours,
            self.amounts, self.rates, self.created_at, self.expires_at, state, self.job_id,
            self.started_at if started_at is None else started_at, self.ended_at if ended_at is None else ended_at,
            self.policy_version, self.weights, self.service, self.closed_at,
        )  # fmt: skip

    def reissued(self, lien_id: str, created_at: datetime, expires_at: datetime, job_id: str | None) -> Lien:
        """A new reserved lien like this one (same request, path, estimate and rates) under another id.

        ``decision_id`` is the new id too, as :func:`hpcpolicy.ledger.rules.lien_for` makes it.
        """
        return Lien(
            lien_id, lien_id, self.user_id, self.project, self.team, self.org, self.cluster, self.partition,
            self.cpus, self.gpus, self.gpu_type, self.memory_gb, self.nodes, self.walltime_hours, self.amounts,
            self.rates, created_at, expires_at, LienState.RESERVED, job_id, None, None, self.policy_version,
            self.weights, self.service,
        )  # fmt: skip


@fast_init
@dataclass(frozen=True, slots=True)
class Charge:
    """Usage dated at ``at`` (the job's end), counted in every window containing that instant."""

    id: str
    lien_id: str | None
    job_id: str | None
    user_id: str
    project: str | None
    team: str | None
    org: str | None
    cluster: str | None
    partition: str | None
    amounts: Amounts
    at: datetime
    source: str  # finish | cancel | fail | sync | import
    key: str | None = None  # idempotency / external identity (e.g. slurm:<cluster>:<job id>)
    gpu_type: str | None = None  # the GPU type used (None without GPUs): GPU-type slices count by it
    raw_hours: tuple[float, float] | None = None  # CPU- and GPU-hours before weights; None: as ``amounts``


@dataclass(frozen=True, slots=True)
class Adjustment:
    id: str
    scope: str  # a scope id: user:…, project:…, team:…, org:…
    kind: AdjustmentKind
    amounts: Amounts  # positive amounts; the kind gives the sign
    reason: str
    author: str
    at: datetime
    key: str | None = None


@fast_init
@dataclass(frozen=True, slots=True)
class JobUsage:
    """What a job actually used. Resources left None are taken from the lien (what was requested)."""

    elapsed_hours: float
    cpus: int | None = None
    gpus: int | None = None
    memory_gb: float | None = None


@dataclass(frozen=True, slots=True)
class DecisionRecord:
    id: str
    at: datetime
    caller: str
    user_id: str
    allow: bool
    policy_version: str
    request: dict[str, Any]
    decision: dict[str, Any]
    lien_id: str | None = None
    key: str | None = None


@dataclass(frozen=True, slots=True)
class DecisionFilter:
    """Which decision records a listing returns, newest first: made for one of ``users`` (None: anyone),
    at or after ``since`` and before ``until``, allowed or denied only (``allow``), and older than
    ``before`` — the ``(at, id)`` of the last record of the previous page, so pages neither repeat nor skip
    records made at the same instant. What a record holds only inside its JSON (project, codes) is
    filtered by the service layer, which pages through these."""

    users: tuple[str, ...] | None = None
    since: datetime | None = None
    until: datetime | None = None
    allow: bool | None = None
    before: tuple[datetime, str] | None = None

    def admits(self, record: DecisionRecord) -> bool:
        """Whether ``record`` is one this filter lists (the in-memory ledger's test; SQL says the same)."""
        return (
            (self.users is None or record.user_id in self.users)
            and (self.since is None or record.at >= self.since)
            and (self.until is None or record.at < self.until)
            and (self.allow is None or record.allow == self.allow)
            and (self.before is None or (record.at, record.id) < self.before)
        )


@dataclass(frozen=True, slots=True)
class ScopeBalance:
    """One quota's standing: ``available = limit - charged - reserved`` in ``window`` (None: unlimited);
    ``forecast``: where the burn rate takes ``available`` (metered metrics with a limit, when asked for)."""

    quota_id: str
    metric: str
    limit: float | None
    charged: float
    reserved: float
    available: float | None
    window: str
    window_start: datetime
    window_end: datetime
    forecast: Forecast | None = None
