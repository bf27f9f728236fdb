"""Fixtures of the delivery tests: a real JetStream server per test, and audit ledgers."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from hpcpolicy.ledger.sql.ledger import SqlLedger
from tests.delivery.natsserver import BINARY, NatsServer
from tests.ledger.conftest import sqlite_ledger
from tests.ledger.test_audit import sql  # noqa: F401 - audit ledgers on SQLite, PostgreSQL and MariaDB


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[NatsServer]:
    if BINARY is None:
        message = "nats-server is not installed (apt-get install nats-server; .ci/run installs it)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    server = NatsServer(tmp_path / "jetstream").start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def audited(tmp_path: Path) -> Iterator[SqlLedger]:
    """A SQLite ledger recording audit events."""
    plain = sqlite_ledger(tmp_path)
    yield SqlLedger(plain.engine, audit=True)
    plain.engine.dispose()
