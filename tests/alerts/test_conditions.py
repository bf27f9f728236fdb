"""Which alerts fire (engine/alerts.py, pure): thresholds once per window and never below one that fired,
runs dry, stuck liens, denied spikes, rolling windows, scope patterns."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from hpcpolicy.engine.alerts import applies, budget_candidates, due, spike_candidates, stuck_candidates, window_id
from hpcpolicy.engine.forecast import Forecast
from hpcpolicy.policy.schema.alerts import AlertRule
from tests.alerts.standings import MONTH, Metric, Quota, cpu

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
BUDGETS = AlertRule(name="budgets", scopes=["project:*"], used=[0.5, 0.8, 0.95, 1.0], runs_dry_before_end=True)


def fire(rules: list[AlertRule], standings: list[Quota], fired: set[str] = frozenset()) -> list:  # type: ignore[assignment]
    return due(budget_candidates(rules, standings), fired)


def test_the_highest_threshold_reached_fires_alone() -> None:
    [alert] = fire([BUDGETS], [cpu("project:wgs", 960)])
    assert alert.condition == "used:0.95" and alert.scope == "project:wgs" and alert.subject == "project:wgs"
    assert alert.window_start == MONTH[0]
    assert "96 %" in alert.summary and "cpu_hours 960 of 1,000" in alert.summary
    assert alert.details["threshold"] == 0.95 and alert.details["metrics"][0]["used"] == 0.96


def test_once_per_window_and_never_a_lower_threshold_after_a_higher_one() -> None:
    [first] = fire([BUDGETS], [cpu("project:wgs", 820)])
    assert fire([BUDGETS], [cpu("project:wgs", 830)], {first.key}) == []  # same window: nothing more
    [higher] = fire([BUDGETS], [cpu("project:wgs", 960)], {first.key})
    assert higher.condition == "used:0.95"
    # A refund back to 85 %: 80 % fired already; and after 95 % fired, 80 % would not fire either.
    assert fire([BUDGETS], [cpu("project:wgs", 850)], {higher.key}) == []
    later = MONTH[1], datetime(2027, 1, 1, tzinfo=UTC)
    [next_month] = fire([BUDGETS], [cpu("project:wgs", 820, window_start=later[0], window_end=later[1])],
                        {first.key, higher.key})  # fmt: skip
    assert next_month.condition == "used:0.8" and next_month.key != first.key


def test_the_metric_most_used_decides_and_every_metric_over_is_named() -> None:
    standing = Quota("project:wgs#dgx", (Metric("cpu_hours", 100, 10), Metric("gpu_hours", 50, 41),
                                         Metric("cost", 1000, 900)))  # fmt: skip
    [alert] = fire([BUDGETS], [standing])
    assert alert.condition == "used:0.8" and alert.subject == "project:wgs#dgx" and alert.scope == "project:wgs"
    assert [m["metric"] for m in alert.details["metrics"]] == ["gpu_hours", "cost"]


def test_a_zero_limit_used_at_all_is_past_every_threshold() -> None:
    [alert] = fire([BUDGETS], [cpu("project:wgs", 1, limit=0)])
    assert alert.condition == "used:1" and "all of the monthly budget" in alert.summary
    assert alert.details["metrics"][0]["used"] is None  # infinite: JSON has no such number
    assert fire([BUDGETS], [cpu("project:wgs", 0, limit=0)]) == []


def test_runs_dry_before_the_window_ends_only_while_something_is_left() -> None:
    drying = Forecast(40.0, 5.0, NOW + timedelta(days=5), -200.0, True)
    left = Quota("project:wgs", (Metric("cpu_hours", 1000, 800, forecast=drying),))
    rule = AlertRule(name="dry", runs_dry_before_end=True)
    [alert] = fire([rule], [left])
    assert alert.condition == "runs_dry" and "runs dry about 2026-11-25" in alert.summary
    assert alert.details["metrics"][0]["runs_dry_at"] == "2026-11-25T12:00:00Z"
    spent = Quota("project:wgs", (Metric("cpu_hours", 1000, 1000, forecast=Forecast(40, 0, NOW, -400, True)),))
    assert fire([rule], [spent]) == []
    assert fire([rule], [cpu("project:wgs", 800)]) == []  # not burning


def test_rules_apply_to_the_scopes_their_patterns_name() -> None:
    rule = AlertRule(name="r", scopes=["team:ml", "project:wgs-*", "member:wgs/user:*"], used=[0.5])
    assert applies(rule, "team:ml") and applies(rule, "project:wgs-cohort") and applies(rule, "project:wgs/user:al")
    assert not applies(rule, "project:wgs") and not applies(rule, "team:ml2") and not applies(rule, "org:ml")
    assert not applies(AlertRule(name="r", scopes=["project:*"], used=[0.5]), "project:wgs/user:al")
    assert applies(AlertRule(name="r", used=[0.5]), "user:anyone")
    assert fire([rule], [cpu("project:other", 900)]) == []


def test_two_rules_on_one_quota_fire_each() -> None:
    ops = AlertRule(name="ops", scopes=["*"], used=[0.9], channels=["ops"])
    alerts = fire([BUDGETS, ops], [cpu("project:wgs", 950)])
    assert sorted((a.rule, a.condition, a.channels) for a in alerts) == [
        ("budgets", "used:0.95", ("email",)), ("ops", "used:0.9", ("ops",))]  # fmt: skip


def test_a_rolling_window_counts_once_per_bucket_of_its_length() -> None:
    def rolling(now: datetime) -> datetime:
        return window_id("rolling 30d", now - timedelta(days=30), now + timedelta(microseconds=1))

    assert rolling(NOW) == rolling(NOW + timedelta(minutes=1)) == rolling(NOW + timedelta(days=1))
    assert rolling(NOW + timedelta(days=30)) == rolling(NOW) + timedelta(days=30)
    assert window_id("monthly", *MONTH) == MONTH[0]


@dataclass(frozen=True)
class Job:
    id: str
    job_id: str | None
    user_id: str
    cluster: str
    partition: str
    walltime_hours: float
    started_at: datetime | None


STUCK = AlertRule(name="stuck", scopes=["project:*", "user:*"], stuck_liens=True)
PATH = ["user:al", "project:wgs", "team:genomics", "org:uni", "service:galaxy"]


def test_a_running_job_past_walltime_and_grace_is_stuck_once() -> None:
    job = Job("l1", "4242", "al", "helix", "cpu", 2.0, NOW - timedelta(hours=3, minutes=1))
    [alert] = due(stuck_candidates([STUCK], [(job, PATH)], NOW), set())
    assert alert.scope == "project:wgs" and alert.subject == "lien:l1" and alert.condition == "stuck_lien"
    assert "job 4242 on helix" in alert.summary and alert.details["overdue_hours"] > 1
    assert due(stuck_candidates([STUCK], [(job, PATH)], NOW + timedelta(hours=5)), {alert.key}) == []
    within = Job("l2", None, "al", "helix", "cpu", 2.0, NOW - timedelta(hours=2, minutes=59))
    assert stuck_candidates([STUCK], [(within, PATH)], NOW) == []
    strict = AlertRule(name="s", stuck_liens={"grace_hours": 0}, scopes=["user:*"])
    [mine] = due(stuck_candidates([strict], [(within, PATH)], NOW), set())
    assert mine.scope == "user:al" and "lien l2" in mine.summary


def test_denials_spike_per_scope_once_per_bucket_and_not_the_next() -> None:
    rule = AlertRule(name="spike", denied_spike={"count": 3, "minutes": 10})
    denials = [(NOW - timedelta(minutes=m), ("user:al", "project:wgs")) for m in (1, 2, 9)]
    denials += [(NOW - timedelta(minutes=11), ("user:bo", "project:wgs"))]  # too old
    found = due(spike_candidates([rule], denials, NOW), set())
    assert sorted(a.scope for a in found) == ["project:wgs", "user:al"]
    assert found[0].details["count"] == 3
    keys = {a.key for a in found}
    assert due(spike_candidates([rule], denials, NOW + timedelta(minutes=10)), keys) == []  # the next bucket
    later = [(NOW + timedelta(minutes=20, seconds=-s), ("project:wgs",)) for s in (1, 2, 3)]
    assert [a.scope for a in due(spike_candidates([rule], later, NOW + timedelta(minutes=20)), keys)] == [
        "project:wgs"]  # fmt: skip
    assert spike_candidates([rule], denials[:2], NOW) == []


@settings(deadline=None)
@given(used=st.lists(st.floats(0, 2), min_size=1, max_size=12))
def test_rising_usage_fires_each_threshold_at_most_once_and_in_order(used: list[float]) -> None:
    fired: set[str] = set()
    conditions: list[float] = []
    for value in sorted(used):
        for alert in fire([BUDGETS], [cpu("project:p", value * 1000)], fired):
            fired.add(alert.key)
            conditions.append(float(alert.condition.partition(":")[2]))
    assert conditions == sorted(set(conditions))
    top = max(used)
    assert (max(conditions) if conditions else 0) == max([t for t in BUDGETS.used if top * 1000 / 1000 >= t],
                                                         default=0)  # fmt: skip
    assert all(math.isfinite(c) for c in conditions)
