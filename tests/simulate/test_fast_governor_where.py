"""The fast governor on policies with opening hours and whole-node partitions (policy v2).

A plan whose route has opening hours may run elsewhere at another time, with another estimate and
other rates; the fast governor must not reuse a lien made for one route on another.
"""

from __future__ import annotations

import random
from datetime import timedelta

import pytest

from hpcpolicy.engine import compile_policy
from hpcpolicy.simulate.clock import TraceClock
from hpcpolicy.simulate.governor import LedgerGovernor
from hpcpolicy.simulate.run import Options, Variant, run_variant

from .helpers import policy
from .test_fast_governor import PlainGovernor, Recording, random_policy, random_trace

DAYTIME = {"open": [{"days": ["mon", "tue", "wed", "thu", "fri"], "from": "08:00", "to": "18:00"}]}


@pytest.mark.parametrize("seed", range(6))
def test_the_fast_governor_follows_a_route_that_changes_with_the_time(seed: int) -> None:
    rng = random.Random(seed)
    b = random_policy(rng, v2=True)  # with "big", which has quotas of its own (a slice, a per-user cap)
    b.partition("day", rates={"cpu_hour": 0.2, "memory_gb_hour": 0.01}, limits={"max_walltime_hours": 48})
    b.set("clusters.hpc.partitions.day.schedule", DAYTIME)
    b.partition("nodes", rates={"cpu_hour": 0.6}, limits={"max_walltime_hours": 48})
    b.set("clusters.hpc.partitions.nodes.exclusive", True)
    loaded = policy(b)
    trace = random_trace(rng, 150)
    ttl = timedelta(hours=rng.choice([2, 24]))
    snap = compile_policy(loaded.policy, loaded.version)
    options = Options(8, TraceClock(trace.epoch), lien_ttl=ttl)

    fast = Recording(LedgerGovernor(snap, options.clock, ttl))
    plain = Recording(PlainGovernor(snap, options.clock, ttl))
    got = run_variant(trace, Variant("fifo", loaded), options, governor=fast)
    want = run_variant(trace, Variant("fifo", loaded), options, governor=plain)

    assert fast.decisions == plain.decisions
    routes = {d.route.partition for _, d, _ in fast.decisions if d.allow and d.route is not None}
    assert "day" in routes and routes - {"day"}  # the same shapes ran on both sides of the opening hours
    assert list(fast.inner.ledger.liens.items()) == list(plain.inner.ledger.liens.items())
    assert got.tally is not None and want.tally is not None and got.tally.to_dict() == want.tally.to_dict()
