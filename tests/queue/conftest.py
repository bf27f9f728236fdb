"""A small v2 policy whose users each run two jobs at once, and a service capped at three runs; the
service over it on each ledger, with a hand-moved clock."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from hpcpolicy.engine import Request
from hpcpolicy.ledger.memory import MemoryLedger
from hpcpolicy.service import Governance, PolicyStore
from hpcpolicy.service.context import Context, QueueSettings
from hpcpolicy.service.governance import Outcome
from hpcpolicy.service.holding import Hold
from tests.ledger.conftest import sqlite_ledger
from tests.service.conftest import Clock, clock  # noqa: F401 - fixture re-export

POLICY = """
apiVersion: hpcpolicy/v2
clusters:
  helix:
    scheduler: slurm
    partitions:
      cpu:
        nodes: {count: 10, cpus: 64, memory_gb: 256}
        rates: {cpu_hour: 0.01}
orgs:
  uni:
    teams:
      bio:
        projects:
          p1: {quotas: [{cpu_hours: 50000}]}
          p2: {quotas: [{cpu_hours: 50000}]}
users:
  u1: {projects: [p1], quotas: [{max_jobs: 2}]}
  u2: {projects: [p1], quotas: [{max_jobs: 2}]}
  u3: {projects: [p2], quotas: [{max_jobs: 2}]}
  u4: {projects: [p2], quotas: [{max_jobs: 2}]}
services:
  galaxy: {max_runs: 3, max_runs_per_user: 1}
fairshare:
  priority: {fairshare: 1000, age: 1000, max_age_hours: 12}
"""


def policy_store(tmp_path: Path, text: str = POLICY) -> PolicyStore:
    path = tmp_path / "policy.yaml"
    path.write_text(text)
    return PolicyStore.from_file(path, env={})


def make_gov(ledger: object, tmp_path: Path, clock: Clock, text: str = POLICY) -> Governance:  # noqa: F811
    ctx = Context(ledger, policy_store(tmp_path, text), clock=clock, lien_ttl=timedelta(hours=2),  # type: ignore[arg-type]
                  queue=QueueSettings(max_per_user=50))  # fmt: skip
    return Governance(ctx)


@pytest.fixture(params=["memory", "sqlite"])
def gov(request: pytest.FixtureRequest, tmp_path: Path, clock: Clock) -> Iterator[Governance]:  # noqa: F811
    ledger = MemoryLedger() if request.param == "memory" else sqlite_ledger(tmp_path)
    yield make_gov(ledger, tmp_path, clock)
    if request.param == "sqlite":
        ledger.engine.dispose()  # type: ignore[attr-defined]


def submit(gov: Governance, user: str, *, cpus: int = 1, hours: float = 1, service: str | None = None,
           hold: Hold | None = Hold(), key: str | None = None, nodes: int = 1) -> Outcome:  # fmt: skip
    request = Request(user_id=user, partition="cpu", cpus=cpus, nodes=nodes, walltime_hours=hours, service=service)
    return gov.decide(request, f"user:{user}", reserve=True, hold=hold, key=key)
