"""Shared fixtures: the packaged example policy, loaded once per session; one migrated database per server
(PostgreSQL, MariaDB) per session, which tests empty with ``tests.dbservers.truncate``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from hpcpolicy.engine import PolicySnapshot, compile_policy
from hpcpolicy.policy import LoadedPolicy, load_policy
from tests.dbservers import migrated_engine, server_database


@pytest.fixture(scope="session")
def example() -> LoadedPolicy:
    return load_policy(env={})


@pytest.fixture(scope="session")
def example_snap(example: LoadedPolicy) -> PolicySnapshot:
    return compile_policy(example.policy, example.version)


def _migrated(kind: str) -> Iterator[Engine]:
    with server_database(kind) as url:
        engine = migrated_engine(url)
        yield engine
        engine.dispose()


@pytest.fixture(scope="session")
def postgresql_engine() -> Iterator[Engine]:
    yield from _migrated("postgresql")


@pytest.fixture(scope="session")
def mariadb_engine() -> Iterator[Engine]:
    yield from _migrated("mariadb")
