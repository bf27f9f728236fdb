"""Burn rates and run-dry dates on synthetic burn patterns whose answers are known."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hpcpolicy.engine.forecast import burn_rate, elapsed_by_day, forecast

NOW = datetime(2026, 12, 10, tzinfo=UTC)
END = datetime(2027, 1, 1, tzinfo=UTC)  # 22 days left


def test_a_steady_burn_is_its_own_rate_and_runs_dry_when_the_balance_is_spent() -> None:
    f = forecast(60.0, [10.0] * 9, NOW, END)
    assert f.rate_per_day == pytest.approx(10.0)
    assert f.runs_dry_at == NOW + timedelta(days=6) and f.dry_before_end
    assert f.balance_at_end == pytest.approx(60 - 220)


def test_a_slow_burn_ends_the_window_with_money_left() -> None:
    f = forecast(500.0, [10.0] * 9, NOW, END)
    assert f.runs_dry_at == NOW + timedelta(days=50) and not f.dry_before_end
    assert f.balance_at_end == pytest.approx(280.0)


def test_no_burn_never_runs_dry() -> None:
    f = forecast(5.0, [0.0] * 30, NOW, END)
    assert f == type(f)(0.0, math.inf, None, 5.0, False)
    assert forecast(5.0, [], NOW, END).runs_dry_at is None  # no history yet: nothing to project


def test_a_spent_budget_is_dry_now() -> None:
    f = forecast(-3.0, [1.0], NOW, END)
    assert f.runs_dry_at == NOW and f.dry_before_end


def test_recent_days_weigh_more_by_the_half_life() -> None:
    """Ten days at 0 then one day at 12, half-life 1: weights 1, ½, ¼ … so the rate is 12 / Σ 2⁻ᵏ (k = 0..10)."""
    assert burn_rate([0.0] * 10 + [12.0], half_life_days=1) == pytest.approx(12 / sum(0.5**k for k in range(11)))
    doubled = [10.0] * 7 + [20.0] * 3  # the burn doubled three days ago
    assert 15 < burn_rate(doubled) < 20  # closer to the new rate than the plain mean (13)
    assert burn_rate(doubled) > sum(doubled) / len(doubled)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -1.0])
def test_hostile_amounts_are_refused(bad: float) -> None:
    with pytest.raises(ValueError, match="daily amounts"):
        burn_rate([1.0, bad])
    with pytest.raises(ValueError):
        forecast(bad if bad != -1.0 else math.nan, [1.0], NOW, END)


def test_a_date_further_than_a_century_is_not_given() -> None:
    f = forecast(1e12, [0.001], NOW, END)
    assert f.days_to_dry == pytest.approx(1e15) and f.runs_dry_at is None and not f.dry_before_end


@settings(deadline=None)  # microseconds of work: a loaded CI machine must not fail it on time
@given(rate=st.floats(0.001, 1e6), days=st.integers(1, 60), balance=st.floats(0.001, 1e9))
def test_a_constant_burn_projects_exactly(rate: float, days: int, balance: float) -> None:
    f = forecast(balance, [rate] * days, NOW, END)
    assert f.rate_per_day == pytest.approx(rate)
    assert f.days_to_dry == pytest.approx(balance / rate)
    assert f.balance_at_end == pytest.approx(balance - rate * 22)
    assert f.dry_before_end == (f.days_to_dry < 22)
    if f.runs_dry_at is not None:
        assert abs((f.runs_dry_at - NOW).total_seconds() / 86400 - f.days_to_dry) < 1e-3


def test_a_running_job_burns_its_walltime_share_of_each_day_until_its_walltime_ends() -> None:
    first = datetime(2026, 11, 1, tzinfo=UTC)
    started = datetime(2026, 11, 2, 18, tzinfo=UTC)  # 6 h on the 2nd, 24 h on the 3rd, 18 h on the 4th
    shares = elapsed_by_day(started, 48, datetime(2026, 11, 9, tzinfo=UTC), first, 7)
    assert shares == [0, 6 / 48, 24 / 48, 18 / 48, 0, 0, 0]
    early = elapsed_by_day(started, 48, datetime(2026, 11, 3, 6, tzinfo=UTC), first, 7)
    assert early == [0, 6 / 48, 6 / 48, 0, 0, 0, 0]  # up to now only
    assert elapsed_by_day(started, 0, datetime(2026, 11, 9, tzinfo=UTC), first, 3) == [0, 0, 0]
