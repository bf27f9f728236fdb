"""The replay's fast governor against the plain one it replaced, on random traces and policies.

:class:`PlainGovernor` is how the replay decided before it was optimised, through nothing but the
ledger contract and the public engine: ``evaluate`` on a usage snapshot from ``rules.snapshot``
(``settled``/``reserved``), ``lien_for`` per admission, ``update_lien(replace(...))`` and
``add_charge`` at the end. :class:`LedgerGovernor` plans each distinct request once, reads balances as
floats through resolved quotas and cursors, reissues liens from a template and closes them with
``close_lien``. Every decision (violations, messages, remaining balances to the last bit), every
placement, the tally and the ledger's records must come out the same.
"""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from hpcpolicy.adapters.traces import Problems
from hpcpolicy.engine import (
    Amounts,
    Decision,
    Estimate,
    PolicySnapshot,
    Request,
    compile_policy,
    decide,
    prepare,
    quotas_on_path,
)
from hpcpolicy.ledger import Charge, JobUsage, LienState
from hpcpolicy.ledger.memory import MemoryLedger
from hpcpolicy.ledger.rules import actual_amounts, lien_for, raw_hours, snapshot
from hpcpolicy.simulate.clock import TraceClock
from hpcpolicy.simulate.governor import LedgerGovernor
from hpcpolicy.simulate.run import Options, Variant, run_variant
from hpcpolicy.simulate.source import Trace, TraceJob
from hpcpolicy.simulate.tally import GovernanceTally
from hpcpolicy.simulate.workload import SimJob
from tests.builders import PolicyBuilder

from .helpers import DAY, HOUR, policy

EPOCH = datetime(2024, 1, 25, tzinfo=UTC)  # a month boundary early in every trace


class PlainGovernor:
    """The replay's governor as it was: every decision and record through the generic paths."""

    def __init__(self, snap: PolicySnapshot, clock: TraceClock, ttl: timedelta) -> None:
        self.snapshot, self.clock, self.ttl = snap, clock, ttl
        self.ledger = MemoryLedger()
        self.ids = 0

    def decide(self, request: Request, job_id: str, t: float) -> tuple[Decision, str | None]:
        now, ledger = self.clock.at(t), self.ledger
        plan = prepare(request, self.snapshot)
        usage = snapshot(plan.usage_quotas, now, ledger.settled, lambda target: ledger.reserved(target, now))
        decision = decide(plan, usage, now=now)
        if not decision.allow:
            return decision, None
        self.ids += 1
        lien = lien_for(str(self.ids), request, decision, self.snapshot, now, self.ttl, job_id)
        assert lien is not None
        ledger.add_lien(lien)
        return decision, lien.id

    def started(self, lien_id: str, start: float, end: float) -> None:
        if self.clock.at(end) < self.ledger.liens[lien_id].expires_at:
            return
        lien = self.ledger.liens[lien_id]
        self.ledger.update_lien(replace(lien, state=LienState.RUNNING, started_at=self.clock.at(start)))

    def finished(self, lien_id: str, start: float, end: float) -> Amounts | None:
        ledger, at = self.ledger, self.clock.at(end)
        lien = ledger.liens[lien_id]
        ledger.update_lien(replace(lien, state=LienState.FINISHED, ended_at=at))
        if end - start <= 0:
            return None
        usage = JobUsage((end - start) / 3600.0)
        amounts, raw = actual_amounts(lien, usage), raw_hours(lien, usage)
        path = (lien.user_id, lien.project, lien.team, lien.org, lien.cluster, lien.partition)
        key, gpu_type = f"lien:{lien_id}", lien.gpu_type
        ledger.add_charge(Charge(lien_id, lien_id, lien.job_id, *path, amounts, at, "finished", key, gpu_type, raw))
        return amounts


def random_trace(rng: random.Random, count: int) -> Trace:
    rows, submit = [], 0.0
    for index in range(count):
        submit += rng.choice([0.0, 0.0, 600.0, HOUR, 5 * HOUR, DAY])
        requested = rng.choice([None, HOUR, 6 * HOUR, 30 * HOUR])
        runtime = rng.choice([0.0, rng.uniform(0.05, 1.3) * (requested or 10 * HOUR)])
        sim = SimJob(f"j{index}", submit, runtime, rng.choice([1, 1, 2, 4, 8]), requested)
        user, group = rng.choice([("1", "7"), ("1", "8"), ("2", "7"), ("3", "8"), ("4", None)])
        rows.append(TraceJob(sim, user, group, None, None, 0, None, index + 1))
    return Trace("random.swf", "swf", rows, None, EPOCH.timestamp(), len(rows), Problems())


def random_policy(rng: random.Random, v2: bool = False) -> PolicyBuilder:
    """A random v1 policy; with ``v2``, also a dearer partition ``big`` that counts CPU-hours at half weight,
    a quota on its slice, a per-user cap there, and member budgets inside g7."""
    b = PolicyBuilder().project("g7").project("g8", team="t8").user("u1", projects=["g7", "g8"])
    b.user("u2", projects=["g7"]).user("u3", projects=["g7"])  # u3 runs under g8: not a member; u4 unlisted
    b.limits(max_walltime_hours=rng.choice([24, 48])).rates(cpu_hour=rng.choice([1.0, 0.37]), memory_gb_hour=0.01)
    scale = rng.choice([0.5, 1.0, 3.0])
    b.user_quota("u1", cpu_hours=60 * scale, window={"rolling_days": rng.choice([1, 3])})
    b.project_quota("g7", cpu_hours=150 * scale, cost=90 * scale, window=rng.choice(["monthly", "quarterly"]))
    b.project_quota("g8", team="t8", cpu_hours=80 * scale, window="monthly", max_jobs=rng.choice([2, 4]))
    b.team_quota(cpu_hours=400 * scale, window="yearly", max_jobs=rng.choice([3, 6]))
    b.org_quota(cpu_hours=600 * scale, window={"start": "2024-01-01", "end": rng.choice(["2024-02-10", "2025-01-01"])})
    b.defaults(user_quota={"cpu_hours": 20 * scale, "window": "monthly"})
    if v2:
        b.limits(max_cpus=4).partition("big", nodes={"count": 8, "cpus": 16, "memory_gb": 64}, rates={"cpu_hour": 2.0})
        b.set("clusters.hpc.partitions.big.hour_weights", {"cpu": 0.5})
        b.set("clusters.hpc.partitions.big.per_user", {"max_jobs": rng.choice([1, 2]), "cpu_hours": 40 * scale})
        b.project_quota("g7", name="big", cpu_hours=30 * scale, slice={"partitions": ["big"]})
        projects = b.data["orgs"]["org"]["teams"]["team"]["projects"]
        projects["g7"]["quotas"][0]["name"] = "all"
        projects["g7"]["member_quotas"] = [{"cpu_hours": 50 * scale, "window": "monthly"}]
        projects["g7"]["members"] = {"u1": {"quotas": [{"cpu_hours": 90 * scale, "max_jobs": 3}]}}
        # edges: g7's month carries over, warns and overdraws; a team share; an exhausted budget reroutes
        projects["g7"]["quotas"][0] |= {"carry_over": {"fraction": 0.5}, "warn_at": [0.5, 0.8],
                                        "overdraft": {"cpu_hours": 10 * scale}}  # fmt: skip
        projects["g7"]["share"] = {"guaranteed": {"cpu_hours": 100 * scale}, "borrow_limit": {"cpu_hours": 50 * scale}}
        b.partition("overrun", rates={"cpu_hour": 9.0}).set("clusters.hpc.partitions.overrun.hour_weights", {"cpu": 0})
        b.limits("overrun", max_cpus=4)
        team = b.data["orgs"]["org"]["teams"]["team"]
        team["quotas"][0]["on_exhausted"] = {"partition": "overrun"}
    return b


class Recording:
    """A governor wrapper that keeps every decision it hands out."""

    def __init__(self, governor: Any) -> None:
        self.inner, self.snapshot, self.decisions = governor, governor.snapshot, []

    def decide(self, request: Request, job_id: str, t: float) -> tuple[Decision, str | None]:
        decision, lien_id = self.inner.decide(request, job_id, t)
        self.decisions.append((job_id, decision, lien_id))
        return decision, lien_id

    def started(self, lien_id: str, start: float, end: float) -> None:
        self.inner.started(lien_id, start, end)

    def finished(self, lien_id: str, start: float, end: float) -> Amounts | None:
        return self.inner.finished(lien_id, start, end)


@pytest.mark.parametrize("v2", [False, True], ids=["v1", "v2"])
@pytest.mark.parametrize("seed", range(12))
def test_the_fast_governor_decides_and_records_exactly_as_the_plain_one(seed: int, v2: bool) -> None:
    rng = random.Random(seed)
    loaded = policy(random_policy(rng, v2))
    trace = random_trace(rng, 150)
    scheduler = rng.choice(["fifo", "easy"])
    ttl = timedelta(hours=rng.choice([2, 12, 24]))
    snap = compile_policy(loaded.policy, loaded.version)
    options = Options(rng.choice([4, 8]), TraceClock(trace.epoch), lien_ttl=ttl)

    fast = Recording(LedgerGovernor(snap, options.clock, ttl))
    plain = Recording(PlainGovernor(snap, options.clock, ttl))
    got = run_variant(trace, Variant(scheduler, loaded), options, governor=fast)
    want = run_variant(trace, Variant(scheduler, loaded), options, governor=plain)

    assert fast.decisions == plain.decisions  # Decision equality: violations, messages, remaining, all of it
    assert {d.allow for _, d, _ in fast.decisions} == {True, False}  # the policy bites, but not on everything
    assert got.schedule.placements == want.schedule.placements
    assert got.tally is not None and want.tally is not None
    assert got.tally.to_dict() == want.tally.to_dict()
    fast_ledger, plain_ledger = fast.inner.ledger, plain.inner.ledger
    assert list(fast_ledger.liens.items()) == list(plain_ledger.liens.items())
    assert list(fast_ledger.charges.items()) == list(plain_ledger.charges.items())
    assert fast_ledger.find_charge("lien:1") == plain_ledger.find_charge("lien:1")
    later = options.clock.at(trace.jobs[-1].sim.submit + 40 * DAY)
    for user, project in [("u1", "g8"), ("u2", "g7"), ("u1", "g7"), ("u4", None)]:
        for part in snap.partitions:
            quotas = quotas_on_path(Request(user_id=user, project=project), snap, project, part)
            assert fast_ledger.usage(quotas, later) == plain_ledger.usage(quotas, later)
    if v2:  # a member's share binds in g7; on big (and only there) its slice and the per-user cap bind too
        assert any("project:g7/user:u1" in d.remaining for _, d, _ in fast.decisions)
        for _, d, _ in fast.decisions:
            on_big = d.route is not None and d.route.partition == "big"
            sliced = {q for q in d.remaining if q == "project:g7#big" or "#per_user:" in q}
            want = {f"{d.account_path[0]}#per_user:big"} | ({"project:g7#big"} if d.project == "g7" else set())
            assert sliced == (want if on_big else set()), (d.route, d.remaining)


@pytest.mark.parametrize("seed", range(5))
def test_burn_down_samples_as_the_plain_loop_did(seed: int) -> None:
    """Every quota of every decision is sampled at most once per slice: the first decision in the slice."""
    rng = random.Random(seed)
    snap = compile_policy(policy(random_policy(rng)).policy, "v")
    tally = GovernanceTally(snap, TraceClock(0.0), 0.0, 1000.0, buckets=20)
    seen: dict[str, int] = {}
    want: dict[str, list[list[float | None]]] = {}
    t = 0.0
    for _ in range(400):
        t += rng.choice([0.0, 0.5, 3.0, 40.0])
        quotas = rng.sample(["user:u1", "project:g7", "team:team", "org:org", "user:u2"], rng.randint(1, 4))
        remaining = {q: {"cpu_hours": rng.uniform(-5, 50)} if rng.random() < 0.8 else {} for q in quotas}
        est = Estimate(rng.uniform(0, 3), 0.0, 0.5, 1.0)
        decision = Decision(True, (), None, est, remaining, "v", "g7", ("user:u1",))
        tally.record(decision, t)
        bucket = int(t / (1000.0 / 20))
        for quota_id, balances in remaining.items():
            if seen.get(quota_id) != bucket:
                seen[quota_id] = bucket
                if "cpu_hours" in balances:
                    want.setdefault(quota_id, []).append([t, balances["cpu_hours"] + est.cpu_hours, None, None])
    assert tally.burn == want
