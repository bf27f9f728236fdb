"""A service with an alerting policy over a SQLite ledger, a hand-moved clock, and real local SMTP and
webhook servers its alerts go to."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hpcpolicy.engine import Amounts
from hpcpolicy.ledger import AdjustmentKind
from hpcpolicy.ledger.base import Ledger
from hpcpolicy.service import Governance, PolicyStore
from hpcpolicy.service.alert_channels import AlertSettings, SmtpSettings
from hpcpolicy.service.context import Context
from tests.alerts.servers import Hook, Mailbox, free_port, smtp_server, webhook
from tests.builders import PolicyBuilder
from tests.ledger.conftest import sqlite_ledger
from tests.service.conftest import Clock

START = datetime(2026, 11, 10, 12, 0, tzinfo=UTC)
RULES = [
    {"name": "budgets", "scopes": ["project:*"], "used": [0.5, 0.8, 0.95, 1.0], "channels": ["email", "ops"]},
    {"name": "stuck", "stuck_liens": {"grace_hours": 1}, "channels": ["ops"]},
    {"name": "spikes", "scopes": ["project:*"], "denied_spike": {"count": 3, "minutes": 10}, "channels": ["ops"]},
]


def alerting_policy(rules: list[dict[str, object]] = RULES, contacts: tuple[str, ...] = ("pi@uni.example",)) -> str:
    builder = PolicyBuilder().project_quota(cpu_hours=1000).user("u", projects=["proj"], default_project="proj")
    builder.set("orgs.org.contacts", ["finance@uni.example"])
    builder.set("orgs.org.teams.team.projects.proj.contacts", list(contacts))
    builder.set("alerts", {"webhooks": ["ops"], "rules": rules})
    return builder.yaml()


class World:
    """The service, its clock and the servers, rebuilt over the same database by :meth:`restart`."""

    def __init__(self, ledger: Ledger, clock: Clock, settings: AlertSettings, policy: str):
        self.ledger, self.clock, self.settings, self.policy = ledger, clock, settings, policy
        self.gov = self._build()

    def _build(self) -> Governance:
        store = PolicyStore.from_file(None, env={})
        store.replace(self.policy)
        ctx = Context(self.ledger, store, clock=self.clock, lien_ttl=timedelta(hours=2), alerts=self.settings)
        return Governance(ctx)

    def restart(self) -> Governance:
        """A new service over the same database (a restarted process): nothing carried over in memory."""
        self.gov.alerts.channels.close()
        self.gov = self._build()
        return self.gov

    def use(self, cpu_hours: float, scope: str = "project:proj") -> None:
        """Consume ``cpu_hours`` of the scope's budget now (a debit counts like a charge)."""
        self.gov.accounts.adjust(scope, AdjustmentKind.DEBIT, Amounts(cpu_hours, 0, 0), "usage", "admin")

    def tick(self) -> None:
        """One pass of the alert loop: evaluate, then send what is due."""
        self.gov.alerts.evaluate()
        self.gov.alerts.deliver_due()


@pytest.fixture
def servers() -> Iterator[tuple[int, Mailbox, Hook]]:
    with smtp_server() as (port, box), webhook() as hook:
        yield port, box, hook


@pytest.fixture
def world_of(tmp_path: Path, servers: tuple[int, Mailbox, Hook]) -> Iterator[Callable[..., World]]:
    port, _, hook = servers
    made: list[World] = []
    ledger = sqlite_ledger(tmp_path)
    settings = AlertSettings(webhooks={"ops": hook.url}, smtp=SmtpSettings("127.0.0.1", port, "alerts@hpc.example"),
                             public_url="https://hpc.example", retry_first_seconds=30)  # fmt: skip

    def make(policy: str | None = None, **changes: object) -> World:
        world = World(ledger, Clock(START), replace(settings, **changes), policy or alerting_policy())
        made.append(world)
        return world

    yield make
    for world in made:
        world.gov.alerts.channels.close()
    ledger.engine.dispose()


@pytest.fixture
def unused_port() -> int:
    return free_port()
