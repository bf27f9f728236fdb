"""Shared fixtures: the packaged example policy, loaded once per session."""

from __future__ import annotations

import pytest

from hpcpolicy.engine import PolicySnapshot, compile_policy
from hpcpolicy.policy import LoadedPolicy, load_policy


@pytest.fixture(scope="session")
def example() -> LoadedPolicy:
    return load_policy(env={})


@pytest.fixture(scope="session")
def example_snap(example: LoadedPolicy) -> PolicySnapshot:
    return compile_policy(example.policy, example.version)
