"""Replicas under test: revision stores on SQLite, PostgreSQL and MariaDB; a Redis server per test; and
``eventually`` for convergence, which polls a condition with a generous cap instead of timing anything."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from hpcpolicy.cluster import PolicySync, RedisBroadcast, RevisionStore
from hpcpolicy.cluster.watch import Backoff
from hpcpolicy.ledger.sql.ledger import SqlLedger
from hpcpolicy.ledger.sql.tables import policy_revisions
from hpcpolicy.policy import example_policy_path
from hpcpolicy.service import PolicyStore
from tests.cluster.redisserver import RedisServer
from tests.dbservers import migrated_engine, server_database
from tests.ledger.conftest import sqlite_ledger

CONVERGENCE_CAP = 10.0


def eventually(condition: Callable[[], object], cap: float = CONVERGENCE_CAP) -> None:
    """Wait until ``condition()`` is truthy; fail after ``cap`` seconds."""
    deadline = time.monotonic() + cap
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {cap} s")
        time.sleep(0.02)


def example_text(gpu_role: str = "gpu_user") -> str:
    """The example policy, with the role its GPU guard asks for changed (a visible, valid edit)."""
    text = example_policy_path().read_text(encoding="utf-8")
    return text.replace("gpu: {role: gpu_user}", f"gpu: {{role: {gpu_role}}}")


class Replicas:
    """Builds replicas (a store, its sync) on one ledger database and stops them all at the end."""

    def __init__(self, make_ledger: Callable[[], SqlLedger]):
        self.make_ledger = make_ledger
        self.syncs: list[PolicySync] = []

    def start(
        self, redis_url: str | None = None, poll: float = 60.0, text: str | None = None, file_given: bool = False
    ) -> tuple[PolicyStore, PolicySync]:
        store = PolicyStore.from_file(None, env={})
        if text is not None:
            store.install(store.validate(text, "replica.yaml"))
        broadcast = RedisBroadcast(redis_url, timeout=0.5) if redis_url else None
        sync = PolicySync(
            store, RevisionStore(self.make_ledger()), broadcast, poll_seconds=poll, backoff=Backoff(0.05, 0.2)
        )
        sync.start_up(file_given=file_given)
        sync.start()
        self.syncs.append(sync)
        return store, sync

    def stop(self) -> None:
        for sync in self.syncs:
            sync.stop()


@pytest.fixture(scope="session")
def cluster_postgresql() -> Iterator[Engine]:
    with server_database("postgresql", "_cluster") as url:
        engine = migrated_engine(url)
        yield engine
        engine.dispose()


@pytest.fixture(scope="session")
def cluster_mariadb() -> Iterator[Engine]:
    with server_database("mariadb", "_cluster") as url:
        engine = migrated_engine(url)
        yield engine
        engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql", "mariadb"])
def ledger(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlLedger]:
    if request.param == "sqlite":
        sql = sqlite_ledger(tmp_path)
        yield sql
        sql.engine.dispose()
        return
    engine: Engine = request.getfixturevalue(f"cluster_{request.param}")
    with engine.begin() as conn:
        conn.execute(policy_revisions.delete())
    yield SqlLedger(engine)


@pytest.fixture
def replicas(ledger: SqlLedger) -> Iterator[Replicas]:
    """Each replica gets its own engine (its own pool), as a separate process would."""
    engines: list[Engine] = []

    def make() -> SqlLedger:
        engine = migrated_engine(ledger.engine.url.render_as_string(hide_password=False))
        engines.append(engine)
        return SqlLedger(engine)

    group = Replicas(make)
    yield group
    group.stop()
    for engine in engines:
        engine.dispose()


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer()
    server.start()
    yield server
    server.kill()
