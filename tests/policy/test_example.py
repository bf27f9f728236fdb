"""The packaged example is the v2 policy a new admin starts from: it must load without warnings, use the
constructs docs/policy.md describes, and keep doing so (its cases in examples/policy_test.yaml say what
each construct decides; tests/cli runs them)."""

from __future__ import annotations

from datetime import UTC, datetime

from hpcpolicy.engine import compile_policy
from hpcpolicy.policy import example_policy_path, load_policy
from hpcpolicy.policy.cases import CaseFile
from hpcpolicy.policy.lint import lint
from hpcpolicy.policy.yamlguard import safe_load

LOADED = load_policy(example_policy_path(), env={})
POLICY = LOADED.policy
CASES = CaseFile.model_validate(safe_load((example_policy_path().parent / "policy_test.yaml").read_text()))


def test_the_example_is_a_v2_policy_without_lint_warnings() -> None:
    assert POLICY.apiVersion == "hpcpolicy/v2"
    assert lint(POLICY) == []


def test_the_example_uses_the_v2_constructs() -> None:
    helix = POLICY.clusters["helix"]
    parts = helix.partitions
    genomics = POLICY.orgs["biocenter"].teams["genomics"]
    ml = POLICY.orgs["biocenter"].teams["ml-research"]
    quotas = [q for team in (genomics, ml) for p in team.projects.values() for q in p.quotas]
    used = {
        "any_of": parts["highmem"].access is not None and bool(parts["highmem"].access.any_of),
        "project roles": bool(ml.projects["protein-lm"].roles),
        "member roles": bool(genomics.projects["wgs-cohort"].member_roles),
        "group projects": any(g.projects for g in POLICY.groups.values()),
        "slice": any(q.slice for q in quotas) and any(q.slice for q in ml.quotas),
        "per_user": parts["dgx-a100"].per_user is not None,
        "member_quotas": bool(genomics.projects["wgs-cohort"].member_quotas),
        "members": bool(genomics.projects["wgs-cohort"].members),
        "hour_weights": parts["scavenger"].hour_weights is not None,
        "minimums": parts["gpu"].limits.min_gpus is not None and parts["highmem"].limits.min_memory_gb is not None,
        "exclusive": parts["dgx-a100"].exclusive,
        "explicit": parts["scavenger"].routing == "explicit",
        "qos": bool(helix.qos),
        "schedule": parts["interactive"].schedule is not None,
        "warn_at": any(q.warn_at for q in genomics.quotas),
        "overdraft": any(q.overdraft for q in quotas),
        "carry_over": any(q.carry_over for q in quotas),
        "on_exhausted": any(q.on_exhausted for q in quotas),
        "share": any(p.share and p.share.borrow_limit for p in genomics.projects.values()),
    }
    assert [name for name, present in used.items() if not present] == []


def test_the_org_counts_a_fiscal_year_from_july_in_new_york() -> None:
    snap = compile_policy(POLICY, LOADED.version)
    [year] = snap.quotas_for("org:biocenter")
    start, end = year.bounds(datetime(2026, 11, 15, 12, tzinfo=UTC))
    assert (start, end) == (datetime(2026, 7, 1, 4, tzinfo=UTC), datetime(2027, 7, 1, 4, tzinfo=UTC))  # EDT
    assert year.window_label == "fiscal year from Jul (America/New_York)"


def test_the_cases_cover_every_partition_and_project_of_the_example() -> None:
    partitions = {case.request.partition for case in CASES.cases} | {
        case.expect.route.partition for case in CASES.cases if case.expect.route
    }
    assert {p for c in POLICY.clusters.values() for p in c.partitions} <= partitions
    named = {case.request.project for case in CASES.cases}
    projects = {p for team in POLICY.orgs["biocenter"].teams.values() for p in team.projects}
    defaults = {u.default_project for u in POLICY.users.values()}
    assert projects <= named | defaults
