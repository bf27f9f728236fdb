"""v2 calendar windows and ``defaults.timezone`` in a policy file: what loads, and the errors that don't."""

from __future__ import annotations

import pytest

from hpcpolicy.engine import compile_policy
from hpcpolicy.engine.windows import in_default_zone
from hpcpolicy.policy import PolicyError, PolicyIssue, parse_policy
from hpcpolicy.policy.errors import dotted
from hpcpolicy.policy.schema import CalendarWindow, Every, FixedWindow, Period, RollingWindow
from tests.builders import EXAMPLE_V1

V1 = EXAMPLE_V1.read_text(encoding="utf-8")  # the example as written for v1
V2 = V1.replace("apiVersion: hpcpolicy/v1", "apiVersion: hpcpolicy/v2")
QUARTERLY = "{window: quarterly, cpu_hours: 150000, gpu_hours: 1500, cost: 20000}"


def edit(old: str, new: str, text: str = V2) -> str:
    assert text.count(old) == 1, f"{old!r} must occur once"
    return text.replace(old, new)


def fiscal(window: str, text: str = V2) -> str:
    return edit(QUARTERLY, QUARTERLY.replace("quarterly", window), text)


def only_issue(text: str) -> PolicyIssue:
    with pytest.raises(PolicyError) as caught:
        parse_policy(text, source="policy.yaml")
    [issue] = caught.value.issues
    return issue


def test_a_fiscal_quarter_in_a_time_zone_loads() -> None:
    loaded = parse_policy(fiscal("{every: quarter, start_month: 7, timezone: America/New_York}"))
    window = loaded.policy.orgs["biocenter"].teams["genomics"].projects["rnaseq-atlas"].quotas[0].window
    assert window == CalendarWindow(every=Every.quarter, start_month=7, timezone="America/New_York")


@pytest.mark.parametrize(
    ("window", "path_end", "words"),
    [
        ("{every: quarter, timezone: Mars/Olympus}", "window.timezone", "unknown time zone 'Mars/Olympus'"),
        ("{every: year, timezone: ../../etc/passwd}", "window.timezone", "unknown time zone"),
        ("{every: month, start_month: 7}", "window", "start_month applies to every: quarter or year"),
        ("{every: year, start_month: 13}", "window.start_month", "must be ≤ 12"),
        ("{every: week}", "window.every", "'month', 'quarter' or 'year'"),
        ("{every: year, start: 2026-01-01}", "window.start", "unknown key"),
    ],
)
def test_calendar_window_errors_name_the_field_and_line(window: str, path_end: str, words: str) -> None:
    text = fiscal(window)
    issue = only_issue(text)
    assert dotted(issue.path).endswith(f"rnaseq-atlas.quotas[0].{path_end}"), dotted(issue.path)
    assert words in issue.message
    assert issue.line == text.splitlines().index(next(x for x in text.splitlines() if window in x)) + 1


def test_an_unknown_default_zone_is_an_error_at_its_line() -> None:
    text = edit("  walltime_hours: 1\n", "  walltime_hours: 1\n  timezone: Europe/Berln\n")
    issue = only_issue(text)
    assert dotted(issue.path) == "defaults.timezone"
    assert "unknown time zone 'Europe/Berln'" in issue.message and "IANA" in issue.message
    assert issue.line == text.splitlines().index("  timezone: Europe/Berln") + 1


@pytest.mark.parametrize(
    ("text", "path_end"),
    [
        (fiscal("{every: year, start_month: 10}", V1), "rnaseq-atlas.quotas[0].window.every"),
        (edit("  walltime_hours: 1\n", "  walltime_hours: 1\n  timezone: UTC\n", V1), "defaults.timezone"),
    ],
)
def test_a_v1_file_refuses_v2_windows(text: str, path_end: str) -> None:
    issue = only_issue(text)
    assert dotted(issue.path).endswith(path_end)
    assert "hpcpolicy/v2" in issue.message and "migrate" in issue.message


def test_the_default_zone_applies_to_every_calendar_window_that_names_none() -> None:
    text = edit("  walltime_hours: 1\n", "  walltime_hours: 1\n  timezone: Europe/Berlin\n")
    text = fiscal("{every: year, start_month: 10, timezone: Asia/Tokyo}", text)
    policy = parse_policy(text).policy
    snap = compile_policy(policy, "v")
    zones = {ref.id: (ref.zone, ref.window_label) for refs in snap.scope_quotas.values() for ref in refs}
    assert zones["org:biocenter#yearly"] == ("Europe/Berlin", "yearly (Europe/Berlin)")
    assert zones["project:rnaseq-atlas"] == ("Asia/Tokyo", "fiscal year from Oct (Asia/Tokyo)")
    assert zones["project:variant-calling"] == (None, "rolling 30d")
    assert zones["project:protein-lm#grant"] == (None, "2026-01-01..2027-07-01")
    assert snap.user_quotas("newcomer")[0].zone == "Europe/Berlin"  # the default user quota too
    assert isinstance(snap.policy.orgs["biocenter"].quotas[0].window, CalendarWindow)
    # the loaded policy itself is unchanged: its text and its hash say what the file says
    assert policy.orgs["biocenter"].quotas[0].window == Period.yearly


def test_without_a_default_zone_the_policy_is_compiled_as_written() -> None:
    policy = parse_policy(V2).policy
    assert in_default_zone(policy) is policy
    windows = {type(ref.quota.window) for refs in compile_policy(policy, "v").scope_quotas.values() for ref in refs}
    assert windows == {Period, RollingWindow, FixedWindow}
