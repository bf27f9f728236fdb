"""What every service operation needs, wired once (``bootstrap``) and injected: no globals, no hidden clock."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from hpcpolicy.ledger.base import Ledger
from hpcpolicy.service.alert_channels import AlertSettings
from hpcpolicy.service.policy_store import PolicyStore


def utc_now() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    return str(uuid.uuid4())


class Observer(Protocol):
    """Told about every recorded decision and every ledger failure (metrics, decision logs)."""

    def decided(self, decision: dict[str, Any], reserved: bool, seconds: float) -> None: ...

    def ledger_failed(self, error: Exception) -> None: ...


class Observers:
    """Fan-out to every subscribed observer (the app subscribes its metrics; tests subscribe spies)."""

    def __init__(self) -> None:
        self._subscribers: list[Observer] = []
        self._freed: list[Callable[[Any], None]] = []
        self._queued: list[Callable[[Any], None]] = []

    def subscribe(self, observer: Observer) -> None:
        self._subscribers.append(observer)

    def on_freed(self, listener: Callable[[Any], None]) -> None:
        """Call ``listener(lien)`` whenever this process closes a lien (the admission queue's dispatcher)."""
        self._freed.append(listener)

    def freed(self, lien: Any) -> None:
        for listener in self._freed:
            listener(lien)

    def on_queued(self, listener: Callable[[Any], None]) -> None:
        """Call ``listener(entry)`` whenever this process holds a request in the admission queue."""
        self._queued.append(listener)

    def queued(self, entry: Any) -> None:
        for listener in self._queued:
            listener(entry)

    def decided(self, decision: dict[str, Any], reserved: bool, seconds: float) -> None:
        for observer in self._subscribers:
            observer.decided(decision, reserved, seconds)

    def ledger_failed(self, error: Exception) -> None:
        for observer in self._subscribers:
            observer.ledger_failed(error)


@dataclass(frozen=True)
class QueueSettings:
    """The admission queue's limits (settings ``HPCPOLICY_QUEUE_*``; docs/queue.md)."""

    ttl: timedelta = timedelta(days=7)  # how long a request waits unless it asks for less (= the age cap)
    max_ttl: timedelta = timedelta(days=30)
    max_per_user: int = 1000  # held requests of one user at once; more are denied (queue.full)
    callback_prefixes: tuple[str, ...] = ()  # URLs a callback may go to (none: callbacks refused)
    callback_secret: bytes | None = None  # HMAC key of callback signatures
    poll_seconds: float = 0.2  # the dispatcher looks for slots freed by other replicas this often
    full_pass_seconds: float = 30.0  # and tries every waiting group this often (expiries, policy changes)
    recalc_seconds: float = 300.0  # fair-share factors are recomputed this often (Slurm's PriorityCalcPeriod)
    slurm_hold: bool = True  # Slurm jobs over a concurrency cap wait held instead of being rejected


@dataclass(frozen=True)
class Context:
    ledger: Ledger
    policies: PolicyStore
    clock: Callable[[], datetime] = utc_now
    ids: Callable[[], str] = new_id
    lien_ttl: timedelta = field(default=timedelta(hours=24))
    walltime_grace: timedelta = field(default=timedelta(minutes=15))
    """How far past its walltime a job's reported run time is still believed (Slurm's OverTimeLimit and
    KillWait, a late end report); beyond it, an admin adjustment records the difference."""
    observers: Observers = field(default_factory=Observers)
    queue: QueueSettings = field(default_factory=QueueSettings)
    standings_max_age: timedelta = field(default=timedelta(0))
    """How long a reading of every quota's standing is reused (``Standings.current``; 0: never)."""
    alerts: AlertSettings = field(default_factory=AlertSettings)
