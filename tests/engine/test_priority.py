"""The priority of held work: each factor weighted, age capped, size favouring small jobs or large."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hpcpolicy.engine.priority import priority
from hpcpolicy.policy.schema.fairshare import PriorityWeights


def test_each_factor_is_weighted() -> None:
    w = PriorityWeights(fairshare=100, age=10, size=1, max_age_hours=2, favor_small=False)
    assert priority(w, 0.5, 3600, 0.25) == pytest.approx(50 + 5 + 0.25)


def test_age_is_capped_at_max_age() -> None:
    w = PriorityWeights(fairshare=0, age=10, max_age_hours=1)
    assert priority(w, 1.0, 7200, 0) == priority(w, 1.0, 3600, 0) == 10


def test_favor_small_ranks_the_smaller_job_higher() -> None:
    w = PriorityWeights(fairshare=0, age=0, size=100, favor_small=True)
    assert priority(w, 1.0, 0, 0.1) > priority(w, 1.0, 0, 0.9)


@settings(deadline=None)  # microseconds of work: a loaded CI machine must not fail it on time
@given(fs=st.floats(0.0001, 1), other=st.floats(0.0001, 1), waited=st.floats(0, 1e6))
def test_a_request_aged_to_the_cap_outranks_every_fresh_one(fs: float, other: float, waited: float) -> None:
    """With the default weights (age ≥ fair share) the wait is bounded: no request starves."""
    w = PriorityWeights()
    old = priority(w, fs, w.max_age_hours * 3600 + waited, 0.5)
    assert old >= priority(w, other, 0, 0.5)
