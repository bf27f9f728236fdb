"""The replay's memory-ledger governor agrees with the service layer over a SQLite ledger, job for job.

Same trace, same policy, same scheduler; one run goes through :class:`LedgerGovernor` (the in-memory
ledger and the shared balance rules), the other through ``Governance.decide`` / ``jobs.start`` /
``jobs.finish`` on a real SQL ledger with a virtual clock. Decisions, placements and charges must match.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest

from hpcpolicy.engine import compile_policy
from hpcpolicy.service import Governance, PolicyStore
from hpcpolicy.service.context import Context
from hpcpolicy.service.policy_store import ActivePolicy
from hpcpolicy.simulate.clock import TraceClock, VirtualClock
from hpcpolicy.simulate.governor import LedgerGovernor, ServiceGovernor
from hpcpolicy.simulate.run import Options, Variant, run_variant
from hpcpolicy.simulate.source import Trace
from tests.builders import PolicyBuilder
from tests.ledger.conftest import sqlite_ledger

from .helpers import DAY, HOUR, base, policy, trace_of

TTL = timedelta(hours=6)


def small_trace(seed: int, count: int = 60, start: float = 0.0) -> Trace:
    rng = random.Random(seed)
    submit, jobs = start, []
    for index in range(count):
        submit += rng.choice([0.0, 600.0, HOUR, 3 * HOUR, 0.4 * DAY])
        requested = rng.choice([HOUR, 4 * HOUR, 12 * HOUR])
        runtime = rng.uniform(0.1, 1.2) * requested
        jobs.append((f"j{index}", submit, runtime, rng.choice([1, 2, 4, 8, 16]), requested))
    return trace_of(*jobs)


def v1_policy() -> PolicyBuilder:
    return (
        base()
        .project_quota("g7", cpu_hours=300, window="monthly", max_jobs=6)
        .user_quota("u1", cpu_hours=150, window={"rolling_days": 3})
        .limits(max_walltime_hours=8)
    )


def v2_policy() -> PolicyBuilder:
    """v1's, plus a dearer ``big`` partition counting CPU-hours at half weight, a quota on its slice, a
    per-user cap there, and each member's share of g7."""
    b = v1_policy().limits(max_cpus=4).partition("big", nodes={"count": 8, "cpus": 16, "memory_gb": 64})
    b.set("clusters.hpc.partitions.big.hour_weights", {"cpu": 0.5})
    b.set("clusters.hpc.partitions.big.per_user", {"max_jobs": 2})
    b.set("clusters.hpc.partitions.big.limits", {"max_walltime_hours": 8})
    b.project_quota("g7", name="big", cpu_hours=60, slice={"partitions": ["big"]})
    project = b.data["orgs"]["org"]["teams"]["team"]["projects"]["g7"]
    project["quotas"][0]["name"] = "all"
    project["member_quotas"] = [{"cpu_hours": 200, "window": "monthly"}]
    return b


def edges_policy() -> PolicyBuilder:
    """v2's, plus budgets with edges: g7's month carries half its unused budget over, warns and overdraws;
    g8 has a guaranteed share of the team's month; an exhausted team month sends jobs to ``overrun``."""
    b = v2_policy().project("g8").user("u1", projects=["g7", "g8"], default_project="g7")
    project = b.data["orgs"]["org"]["teams"]["team"]["projects"]["g7"]
    project["quotas"][0] |= {"carry_over": {"fraction": 0.5}, "warn_at": [0.5], "overdraft": {"cpu_hours": 20}}
    b.team_quota(cpu_hours=150, window="monthly", on_exhausted={"partition": "overrun"})
    b.set("orgs.org.teams.team.projects.g8.share", {"guaranteed": {"cpu_hours": 50}})
    b.partition("overrun", rates={"cpu_hour": 9.0}).set("clusters.hpc.partitions.overrun.hour_weights", {"cpu": 0})
    return b.set("clusters.hpc.partitions.overrun.limits", {"max_cpus": 4, "max_walltime_hours": 8})


@pytest.mark.parametrize(
    ("seed", "scheduler", "make"),
    [(1, "fifo", v1_policy), (2, "easy", v1_policy), (3, "fifo", v2_policy), (4, "easy", edges_policy)],
)
def test_memory_replay_matches_the_service_over_sqlite(
    tmp_path: Path, seed: int, scheduler: str, make: Callable[[], PolicyBuilder]
) -> None:
    loaded = policy(make())
    trace = small_trace(seed, start=27 * DAY)  # across a month's end: windows turn over, budgets carry over
    snap = compile_policy(loaded.policy, loaded.version)
    options = Options(16, TraceClock(trace.epoch), lien_ttl=TTL)
    memory = LedgerGovernor(snap, options.clock, TTL)
    fast = run_variant(trace, Variant(scheduler, loaded), options, governor=memory)

    ledger = sqlite_ledger(tmp_path)
    virtual = VirtualClock()
    store = PolicyStore(ActivePolicy(loaded, snap, ""), env={})
    service = ServiceGovernor(Governance(Context(ledger, store, clock=virtual, lien_ttl=TTL)), options.clock, virtual)
    try:
        slow = run_variant(trace, Variant(scheduler, loaded), options, governor=service)
    finally:
        ledger.engine.dispose()

    assert fast.schedule.placements == slow.schedule.placements
    assert fast.tally is not None and slow.tally is not None
    assert (fast.tally.allowed, fast.tally.denied) == (slow.tally.allowed, slow.tally.denied)
    assert fast.tally.denied > 5 and fast.tally.allowed > 5  # the policy bites, but not on everything
    assert fast.tally.codes == slow.tally.codes
    assert fast.tally.accounts.keys() == slow.tally.accounts.keys()
    for account, counts in fast.tally.accounts.items():
        assert counts == pytest.approx(slow.tally.accounts[account])  # SQL sums may round differently
    assert [dry | {"available": pytest.approx(dry["available"])} for dry in fast.tally.dry] == slow.tally.dry
    assert fast.tally.warnings == slow.tally.warnings
    if make is edges_policy:  # the edges were reached: thresholds passed, budgets exhausted and rerouted
        assert {"quota.warn_threshold", "quota.exhausted_rerouted"} <= set(fast.tally.warnings), fast.tally.warnings
