"""Every quota's standing read at once equals the per-scope balances, and its forecast follows the burn."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta

import pytest

from hpcpolicy.engine import Amounts, Request
from hpcpolicy.engine.forecast import forecast
from hpcpolicy.engine.standing import MetricStanding, QuotaStanding, ranked
from hpcpolicy.ledger import AdjustmentKind, JobUsage
from hpcpolicy.service import Governance, NotFound
from hpcpolicy.service.standings import LOOKBACK_DAYS

JOBS = [
    Request(user_id="alice", partition="cpu", cpus=64, walltime_hours=10),
    Request(user_id="alice", project="rnaseq-atlas", partition="cpu", cpus=32, walltime_hours=4),
    Request(user_id="bob", partition="gpu", gpus=2, walltime_hours=6),
    Request(user_id="carol", partition="dgx-a100", gpus=8, walltime_hours=3),
    Request(user_id="dan", project="imaging-ai", partition="gpu", gpus=1, walltime_hours=2),
    Request(user_id="erin", project="imaging-ai", partition="cpu", cpus=8, walltime_hours=5),
    Request(user_id="newbie", partition="cpu", cpus=4, walltime_hours=2),
]


def _activity(gov: Governance, clock, seed: int, days: int = 20) -> None:
    """Jobs admitted, started, finished, cancelled and left running, and adjustments, over ``days`` days
    (crossing a month's end, so windows and the burn's look-back both matter)."""
    rng = random.Random(seed)
    running: list[tuple[str, datetime, float]] = []
    for _ in range(days):
        for _ in range(rng.randint(1, 6)):
            request = rng.choice(JOBS)
            out = gov.decide(request, "t", reserve=True)
            if not out.allow:
                continue
            roll = rng.random()
            if roll < 0.6:
                gov.jobs.start(out.decision_id, f"j{out.decision_id}")
                running.append((out.decision_id, clock.now, request.walltime_hours or 1))
            elif roll < 0.7:
                gov.jobs.cancel(out.decision_id)
        if running and rng.random() < 0.8:
            done = rng.randint(1, len(running))
            for decision_id, started, walltime in running[:done]:
                ran = min((clock.now - started).total_seconds() / 3600, walltime)
                gov.jobs.finish(decision_id, JobUsage(elapsed_hours=rng.uniform(0, 1) * ran))
            running = running[done:]
        if rng.random() < 0.3:
            kind = rng.choice(list(AdjustmentKind))
            scope = rng.choice(["project:wgs-cohort", "user:bob", "project:protein-lm#dgx", "team:genomics"])
            gov.accounts.adjust(scope, kind, Amounts(rng.uniform(0, 50), rng.uniform(0, 5), 1), "test", "admin")
        clock.advance(hours=rng.choice([6, 18, 24, 30]))


def _by_quota(balances) -> dict[tuple[str, str], tuple[float | None, float, float]]:
    return {(b.quota_id, b.metric): (b.limit, b.charged, b.reserved) for b in balances if b.window != "now"}


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_every_quota_read_at_once_equals_its_scope_balances(gov: Governance, clock, seed: int) -> None:
    clock.now = datetime(2026, 10, 20, 9, tzinfo=UTC)
    _activity(gov, clock, seed)
    snap = gov.ctx.policies.current.snapshot
    standings = gov.standings.all()
    assert {s.quota_id for s in standings} == {ref.id for refs in snap.scope_quotas.values() for ref in refs
                                               if ref.metered}  # fmt: skip
    expected: dict[tuple[str, str], tuple[float | None, float, float]] = {}
    for scope in {s.scope for s in standings} | {"user:alice", "project:wgs-cohort/user:alice"}:
        expected |= _by_quota(gov.accounts.balances(scope))
    member = gov.standings.of_scope("project:wgs-cohort/user:alice")
    for s in [*standings, *gov.standings.of_scope("user:alice"), *member]:
        for m in s.metrics:
            limit, charged, reserved = expected[(s.quota_id, m.metric)]
            assert (m.limit, m.charged, m.reserved) == pytest.approx((limit, charged, reserved), abs=1e-6)
            assert m.available == pytest.approx(m.limit - m.charged - m.reserved, abs=1e-6)


def test_a_steady_burn_forecasts_its_own_rate_and_the_day_it_runs_dry(gov: Governance, clock) -> None:
    # erin's personal quota: 2,000 CPU-hours a month; she finishes 3 × 40 CPU-hours (8 CPUs × 5 h) every day
    clock.now = datetime(2026, 11, 1, 0, 30, tzinfo=UTC)
    for _ in range(LOOKBACK_DAYS):
        for _ in range(3):
            out = gov.decide(JOBS[5], "t", reserve=True)
            gov.jobs.start(out.decision_id, f"j{out.decision_id}")
            clock.advance(hours=5)
            gov.jobs.finish(out.decision_id, JobUsage(elapsed_hours=5))
        clock.advance(hours=9)
    (erin,) = [s for s in gov.standings.of_scope("user:erin") if s.quota_id == "user:erin"]
    cpu = {m.metric: m for m in erin.metrics}["cpu_hours"]
    left = 2000 - 120 * LOOKBACK_DAYS
    assert (cpu.charged, cpu.available, cpu.used) == pytest.approx((120 * LOOKBACK_DAYS, left, 0.84))
    assert cpu.forecast.rate_per_day == pytest.approx(120)
    assert cpu.forecast.days_to_dry == pytest.approx(left / 120)
    assert cpu.forecast.runs_dry_at == clock.now + timedelta(days=cpu.forecast.days_to_dry)
    days_left = (datetime(2026, 12, 1, tzinfo=UTC) - clock.now).total_seconds() / 86400
    assert cpu.forecast.dry_before_end and cpu.forecast.balance_at_end == pytest.approx(left - 120 * days_left)
    assert erin.at_risk
    gpu = {m.metric: m for m in erin.metrics}["gpu_hours"]
    assert (gpu.forecast.rate_per_day, gpu.forecast.runs_dry_at, gpu.forecast.dry_before_end) == (0, None, False)


def test_a_running_job_burns_its_estimate_over_its_walltime(gov: Governance, clock) -> None:
    clock.now = datetime(2026, 11, 10, 12, tzinfo=UTC)
    out = gov.decide(Request(user_id="erin", project="imaging-ai", partition="cpu", cpus=8, walltime_hours=48),
                     "t", reserve=True)  # fmt: skip
    gov.jobs.start(out.decision_id, "j1")
    clock.advance(hours=36)  # 12 h on the 10th, 24 h on the 11th, now the 12th at noon
    (erin,) = [s for s in gov.standings.of_scope("user:erin") if s.quota_id == "user:erin"]
    cpu = {m.metric: m for m in erin.metrics}["cpu_hours"]
    assert cpu.reserved == 8 * 48 and cpu.charged == 0
    weights = [0.5 ** (age / 3) for age in range(LOOKBACK_DAYS)]  # yesterday first
    burnt = [0.0] * LOOKBACK_DAYS
    burnt[0], burnt[1] = 8 * 24, 8 * 12  # the 11th (yesterday) and the 10th
    expected = sum(w * b for w, b in zip(weights, burnt, strict=True)) / sum(weights)
    assert cpu.forecast.rate_per_day == pytest.approx(expected)


def test_burn_down_gives_each_day_of_the_window_with_adjustments(gov: Governance, clock) -> None:
    clock.now = datetime(2026, 11, 1, 8, tzinfo=UTC)
    out = gov.decide(JOBS[5], "t", reserve=True)
    gov.jobs.start(out.decision_id, "j1")
    clock.advance(hours=5)
    gov.jobs.finish(out.decision_id, JobUsage(elapsed_hours=5))
    clock.advance(days=2)
    gov.accounts.adjust("user:erin", AdjustmentKind.DEBIT, Amounts(cpu_hours=7), "fix", "admin")
    clock.advance(days=1)
    days = gov.standings.burn_down("user:erin")
    assert [d.day for d, _ in days] == [1, 2, 3, 4]
    assert [a.cpu_hours for _, a in days] == pytest.approx([40, 0, 7, 0])
    with pytest.raises(NotFound):
        gov.standings.burn_down("user:erin#nope")


def test_quotas_at_risk_come_first() -> None:
    now = datetime(2026, 11, 10, tzinfo=UTC)
    end = datetime(2026, 12, 1, tzinfo=UTC)

    def standing(quota_id: str, used: float, rate: float) -> QuotaStanding:
        left = 100 - used
        metric = MetricStanding("cpu_hours", 100, used, 0, left, used / 100, forecast(left, [rate] * 7, now, end))
        return QuotaStanding(quota_id, quota_id, "monthly", now, end, (metric,))

    quiet, busy, full, idle = standing("a", 10, 0), standing("b", 50, 10), standing("c", 85, 0), standing("d", 0, 0)
    assert busy.at_risk and full.at_risk and not quiet.at_risk
    assert [s.quota_id for s in ranked([quiet, idle, busy, full])] == ["c", "b", "a", "d"]
    assert idle.days_left == math.inf


def test_the_reading_of_every_quota_is_reused_until_it_is_too_old(gov: Governance, clock) -> None:
    from dataclasses import replace

    gov.ctx = ctx = replace(gov.ctx, standings_max_age=timedelta(seconds=30))
    gov.standings.ctx = ctx
    first = gov.standings.current()
    out = gov.decide(JOBS[0], "t", reserve=True)
    assert out.allow and gov.standings.current() is first  # younger than 30 s: reused, with its time
    clock.advance(seconds=31)
    fresh = gov.standings.current()
    assert fresh.as_of == clock.now and fresh is not first
    used = {s.quota_id: s for s in fresh.of({"project:wgs-cohort"})}
    assert used["project:wgs-cohort"].metrics[0].reserved == 640
    assert {s.scope for s in fresh.of({"project:wgs-cohort"})} == {"project:wgs-cohort"}
