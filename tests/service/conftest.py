"""A service over the example policy with a clock the test moves by hand."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hpcpolicy.ledger.memory import MemoryLedger
from hpcpolicy.service import Governance, PolicyStore
from hpcpolicy.service.context import Context
from tests.ledger.conftest import sqlite_ledger


class Clock:
    def __init__(self, start: datetime):
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2026, 11, 15, 12, 0, tzinfo=UTC))


@pytest.fixture(params=["memory", "sqlite"])
def gov(request: pytest.FixtureRequest, tmp_path: Path, clock: Clock) -> Iterator[Governance]:
    ledger = MemoryLedger() if request.param == "memory" else sqlite_ledger(tmp_path)
    yield Governance(Context(ledger, PolicyStore.from_file(None, env={}), clock=clock, lien_ttl=timedelta(hours=2)))
    if request.param == "sqlite":
        ledger.engine.dispose()  # type: ignore[attr-defined]
