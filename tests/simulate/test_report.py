"""Report data, series, HTML and file writing, on runs small enough to check by hand."""

from __future__ import annotations

import itertools
import json
import math
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hpcpolicy.simulate import Placement, Schedule
from hpcpolicy.simulate.clock import TraceClock
from hpcpolicy.simulate.report import render_html, report_data, write_all
from hpcpolicy.simulate.report.series import time_series, wait_histogram
from hpcpolicy.simulate.report.svg import nice_ticks

from .helpers import DAY, HOUR, base, policy, run, trace_by, trace_of


def test_time_series_means_per_bucket() -> None:
    schedule = Schedule("fifo", 2, [Placement("a", 0, 0, 10, 2), Placement("b", 0, 10, 20, 1)])
    series = time_series(schedule, buckets=2)
    assert (series.start, series.width) == (0, 10)
    assert series.queue_length == [1.0, 0.0]  # b waits through the first half
    assert series.utilization == [1.0, 0.5]


def test_wait_histogram_bins() -> None:
    waits = [0, 30, 60, 3599, 3600, 8 * 86400]
    schedule = Schedule("fifo", 1, [Placement(str(w), 0, w, w + 1, 1) for w in waits])
    counts = dict(wait_histogram(schedule))
    assert counts["0 s"] == 1 and counts["< 1 min"] == 1 and counts["1–10 min"] == 1
    assert counts["10 min–1 h"] == 1 and counts["1–4 h"] == 1 and counts["≥ 7 d"] == 1
    assert sum(counts.values()) == len(waits)


def test_nice_ticks() -> None:
    assert nice_ticks(0, 97) == [0, 20, 40, 60, 80, 100]
    assert nice_ticks(0, 1) == [0, 0.2, 0.4, 0.6, 0.8, 1.0]


@settings(max_examples=300, deadline=None)
@given(st.floats(allow_nan=False, allow_infinity=False), st.floats(allow_nan=False, allow_infinity=False))
def test_nice_ticks_of_any_finite_bounds_are_few_finite_and_increasing(low: float, high: float) -> None:
    # A step below the last tick's precision once left the tick unchanged: the loop filled 23 GB of memory.
    ticks = nice_ticks(low, high)
    assert 1 <= len(ticks) <= 4 * 5 + 2
    assert all(math.isfinite(t) for t in ticks)
    assert all(a < b for a, b in itertools.pairwise(ticks))


def test_nice_ticks_at_the_edges_of_the_floats() -> None:
    assert nice_ticks(-1.7e308, 1.7e308) == [-1e308, 0.0, 1e308]  # the span is larger than the largest float
    assert nice_ticks(1e15, 1e15 + 1e-3)[0] == 1e15  # the span is below the values' precision
    assert nice_ticks(1e17, 1e17) == [1e17]


def governed_report() -> dict:  # type: ignore[type-arg]
    loaded = policy(base().project_quota("g7", cpu_hours=10).limits(max_cpus=2))
    jobs = [(f"d{day}", day * DAY, 3 * HOUR, 1, 3 * HOUR) for day in range(5)] + [("wide", 5 * DAY, 60, 3, 60.0)]
    trace = trace_of(*jobs)
    results = [run(trace, loaded, "fifo"), run(trace, None, "easy")]
    return report_data(trace, results, TraceClock(trace.epoch))


def test_report_data() -> None:
    report = json.loads(json.dumps(governed_report(), allow_nan=False))  # what --json writes
    governed, alone = report["runs"]
    assert report["trace"]["jobs"] == 6 and report["trace"]["first_submit"] == "2024-01-01T00:00:00+00:00"
    assert governed["label"].startswith("fifo · test@") and alone["label"] == "easy · no policy"
    gov = governed["governance"]
    assert (gov["decisions"], gov["allowed"], gov["denied"]) == (6, 3, 3)
    assert gov["denied_by_code"] == {"quota.cpu_hours_exceeded": 2, "route.no_fit": 1}
    assert gov["accounts"] == {
        "project:g7": {"allowed": 3, "denied": 3, "charged": {"cpu_hours": 9.0, "gpu_hours": 0.0, "cost": 9.0}}
    }
    assert [d["date"] for d in gov["budgets_ran_dry"]] == ["2024-01-04T00:00:00+00:00"]
    points = gov["burn_down"]["project:g7"]["points"]
    assert gov["burn_down"]["project:g7"]["limits"] == {"cpu_hours": 10}
    assert [p[1] for p in points[:4]] == [10, 7, 4, 1]  # available before each decision
    assert governed["scheduling"]["jobs_run"] == 3 and alone["scheduling"]["jobs_run"] == 6
    assert alone["governance"] is None
    assert sum(b["jobs"] for b in governed["wait_histogram"]) == 3
    series = governed["series"]
    assert len(series["time"]) == len(series["queue_length"]) == len(series["utilization"]) == 300


def test_html_is_self_contained_and_escaped() -> None:
    report = governed_report()
    report["runs"][0]["governance"]["accounts"]["<script>alert(1)</script>"] = {
        "allowed": 0, "denied": 9, "charged": {"cpu_hours": 0.0, "gpu_hours": 0.0, "cost": 0.0}
    }  # fmt: skip
    page = render_html(report)
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert "<script" not in page and "&lt;script&gt;" in page
    assert not re.search(r"(src|href)\s*=|https?://|@import|url\(|<link", page, re.IGNORECASE)
    assert page.count("<svg") == 4  # queue length, utilization, waits, one burn-down
    assert "Budget burn-down" in page and "quota.cpu_hours_exceeded" in page


def test_write_all_is_all_or_nothing(tmp_path: Path) -> None:
    good, bad = tmp_path / "report.json", tmp_path / "missing" / "report.html"
    with pytest.raises(OSError):
        write_all({good: "{}", bad: "<html>"})
    assert list(tmp_path.iterdir()) == []  # neither the first file nor a temporary one
    write_all({good: "{}"})
    assert good.read_text() == "{}" and [p.name for p in tmp_path.iterdir()] == ["report.json"]


def test_fairness_per_account() -> None:
    loaded = policy(base().user("u2", projects=["g7"]).project("g8").user("u3", projects=["g8"]).user_quota(
        "u1", max_jobs=1))  # fmt: skip
    trace = trace_by(
        ("a1", 0, HOUR, 1, HOUR, "1"),
        ("a2", 60, HOUR, 1, HOUR, "1"),  # held until a1 ends: waits 1 h − 1 min
        ("b1", 120, 2 * HOUR, 1, 2 * HOUR, "2"),
        ("c1", 180, HOUR, 2, HOUR, "3"),
    )
    trace.jobs[3] = trace.jobs[3]._replace(group="8")
    clock = TraceClock(trace.epoch)
    report = json.loads(json.dumps(report_data(trace, [run(trace, loaded, "fairshare", queue=True),
                                                       run(trace, loaded, "easy")], clock)))  # fmt: skip
    fair, easy = report["runs"]
    assert (fair["queue"], easy["queue"]) == (True, False) and fair["label"].startswith("fairshare + queue · ")
    g7, g8 = fair["fairness"]["accounts"]["project:g7"], fair["fairness"]["accounts"]["project:g8"]
    assert (g7["jobs_run"], g7["held"], g8["held"]) == (3, 1, 0)
    assert g7["mean_wait_s"] == pytest.approx((HOUR - 60) / 3) and g7["p95_wait_s"] == pytest.approx(0.9 * (HOUR - 60))
    # projects proj, g7, g8 share their team equally: a third each; g7 used 1 + 1 + 2 = 4 of 6 CPU-hours
    assert g7["share"] == g8["share"] == pytest.approx(1 / 3)
    assert (g7["usage"], g8["usage"]) == (pytest.approx(4 / 6), pytest.approx(2 / 6))
    assert g8["fairshare_factor"] > g7["fairshare_factor"]  # g8 used less of the same share
    assert fair["fairness"]["factors_at"] == "2024-01-01T02:02:00+00:00"  # the last end
    assert easy["fairness"]["accounts"]["project:g7"]["fairshare_factor"] is None  # EASY did not rank
    assert easy["governance"]["denied_by_code"] == {"concurrency.max_jobs": 1} and easy["governance"]["held"] == 0
    page = render_html(report)
    assert "fair-share factor" in page and "66.7%" in page and page.count("<svg") == 5  # 3 + a burn-down each
