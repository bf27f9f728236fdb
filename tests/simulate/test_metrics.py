"""Metrics on a hand-built schedule, numbers computed by hand."""

from __future__ import annotations

import pytest

from hpcpolicy.simulate import (
    Placement,
    Schedule,
    bounded_slowdown,
    makespan,
    percentile,
    summarize,
    utilization,
    waits,
)
from hpcpolicy.simulate.metrics import Metrics

SCHEDULE = Schedule(
    "test",
    capacity=4,
    placements=[
        Placement("p1", submit=0, start=0, end=100, procs=2),  # wait 0, run 100: bsld 100/100 = 1
        Placement("p2", submit=0, start=5, end=10, procs=1),  # wait 5, run 5: (5 + 5) / max(5, 10) = 1
        Placement("p3", submit=10, start=40, end=60, procs=4),  # wait 30, run 20: 50 / 20 = 2.5
    ],
)


def test_waits_and_slowdowns() -> None:
    assert waits(SCHEDULE) == [0, 5, 30]
    assert [bounded_slowdown(p) for p in SCHEDULE.placements] == [1.0, 1.0, 2.5]


def test_bounded_slowdown_bound() -> None:
    assert bounded_slowdown(Placement("short", 0, 18, 20, 1)) == 2.0  # (18 + 2) / max(2, 10)
    assert bounded_slowdown(Placement("instant", 0, 0, 2, 1)) == 1.0  # 2 / 10 = 0.2, floored at 1
    assert bounded_slowdown(Placement("short", 0, 18, 20, 1), bound=1.0) == 10.0


def test_makespan_and_utilization() -> None:
    assert makespan(SCHEDULE) == 100  # last end 100 - first submit 0
    # (2 x 100 + 1 x 5 + 4 x 20) / (4 x 100) = 285 / 400
    assert utilization(SCHEDULE) == pytest.approx(0.7125)


def test_percentile_interpolates() -> None:
    assert percentile([1.0, 1.0, 2.5], 95) == pytest.approx(2.35)  # rank 1.9: 1 + 0.9 x 1.5
    assert percentile([3.0], 95) == 3.0 and percentile([], 50) == 0.0
    assert percentile([4.0, 1.0, 3.0, 2.0], 50) == 2.5


def test_summarize() -> None:
    metrics = summarize(SCHEDULE)
    assert metrics.jobs == 3
    assert metrics.mean_wait == pytest.approx(35 / 3) and metrics.median_wait == 5
    assert metrics.mean_bounded_slowdown == pytest.approx(1.5)
    assert metrics.p95_bounded_slowdown == pytest.approx(2.35)
    assert metrics.utilization == pytest.approx(0.7125) and metrics.makespan == 100


def test_empty_schedule() -> None:
    empty = Schedule("test", capacity=4)
    assert summarize(empty) == Metrics(0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    assert utilization(empty) == 0.0 and makespan(empty) == 0.0
