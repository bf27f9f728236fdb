"""Balances and adjustments."""

from __future__ import annotations

import pytest

from hpcpolicy.engine import Amounts, Request
from hpcpolicy.ledger import AdjustmentKind, JobUsage
from hpcpolicy.service import Conflict, Governance, InvalidInput, NotFound


def test_balances_report_limit_charged_reserved_available(gov: Governance, clock) -> None:
    out = gov.decide(Request(user_id="alice", partition="cpu", cpus=10, walltime_hours=10), "t", reserve=True)
    clock.advance(hours=3)
    gov.decide(Request(user_id="alice", partition="cpu", cpus=5, walltime_hours=2), "t", reserve=True)
    gov.jobs.finish(out.decision_id, JobUsage(elapsed_hours=3))
    rows = {(b.metric): b for b in gov.accounts.balances("project:wgs-cohort")}
    cpu = rows["cpu_hours"]
    assert (cpu.limit, cpu.charged, cpu.reserved, cpu.available) == (200000, 30, 10, 200000 - 40)
    assert rows["jobs"].reserved == 1 and rows["jobs"].available == 199
    assert cpu.window == "monthly"


def test_a_scope_without_budgets_has_totals_charged_this_month_and_reserved_now(gov: Governance, clock) -> None:
    out = gov.decide(Request(user_id="alice", partition="cpu", cpus=10, walltime_hours=10), "t", reserve=True)
    clock.advance(hours=3)
    gov.decide(Request(user_id="alice", partition="cpu", cpus=5, walltime_hours=2), "t", reserve=True)
    gov.jobs.finish(out.decision_id, JobUsage(elapsed_hours=3))
    # listed without quotas, so no default applies: only the DGX's per-user cap, which counts DGX jobs
    per_user = {(b.quota_id, b.metric): b for b in gov.accounts.balances("user:alice")}
    assert {quota_id for quota_id, _ in per_user} == {"user:alice#per_user:dgx-a100"}
    jobs = per_user["user:alice#per_user:dgx-a100", "jobs"]
    assert (jobs.limit, jobs.reserved, jobs.available) == (2, 0, 2)  # her cpu jobs are not on its slice
    totals = gov.accounts.totals("user:alice")
    assert (totals.charged.cpu_hours, totals.reserved.cpu_hours, totals.active.jobs) == (30, 10, 1)
    assert totals.window == "monthly" and totals.window_start.day == 1 and totals.window_start.month == 11
    with pytest.raises(NotFound):
        gov.accounts.totals("project:nope")


def test_grant_gives_budget_back_and_debit_takes_it(gov: Governance) -> None:
    gov.accounts.adjust("user:newbie", AdjustmentKind.GRANT, Amounts(cpu_hours=30), "conference deadline", "admin")
    assert gov.decide(Request(user_id="newbie", cpu_hours=150), "t").allow
    gov.accounts.adjust("user:newbie", AdjustmentKind.DEBIT, Amounts(cpu_hours=100), "abuse", "admin")
    assert not gov.decide(Request(user_id="newbie", cpu_hours=60), "t").allow


def test_adjustment_validation_and_idempotency(gov: Governance) -> None:
    with pytest.raises(NotFound):
        gov.accounts.adjust("project:nope", AdjustmentKind.GRANT, Amounts(1), "x", "admin")
    with pytest.raises(InvalidInput):
        gov.accounts.adjust("galaxy:x", AdjustmentKind.GRANT, Amounts(1), "x", "admin")
    with pytest.raises(InvalidInput):
        gov.accounts.adjust("user:a", AdjustmentKind.GRANT, Amounts(-1), "x", "admin")
    with pytest.raises(InvalidInput):
        gov.accounts.adjust("user:a", AdjustmentKind.GRANT, Amounts(1), "  ", "admin")
    first = gov.accounts.adjust("user:a", AdjustmentKind.REFUND, Amounts(5), "node crash", "admin", key="r1")
    again = gov.accounts.adjust("user:a", AdjustmentKind.REFUND, Amounts(5), "node crash", "admin", key="r1")
    assert first.id == again.id
    with pytest.raises(Conflict):
        gov.accounts.adjust("user:a", AdjustmentKind.REFUND, Amounts(6), "node crash", "admin", key="r1")


def test_open_liens_of_a_scope_newest_first_without_expired_or_closed_ones(gov: Governance, clock) -> None:
    first = gov.decide(Request(user_id="alice", partition="cpu", cpus=2, walltime_hours=1), "t", reserve=True)
    clock.advance(minutes=1)
    second = gov.decide(Request(user_id="bob", project="wgs-cohort", partition="cpu", cpus=2), "t", reserve=True)
    clock.advance(minutes=1)
    done = gov.decide(Request(user_id="alice", partition="cpu", cpus=2), "t", reserve=True)
    clock.advance(minutes=1)
    gov.jobs.finish(done.decision_id, JobUsage(elapsed_hours=0.01))
    assert [lien.id for lien in gov.accounts.open_liens("project:wgs-cohort")] == [second.lien_id, first.lien_id]
    assert [lien.id for lien in gov.accounts.open_liens("user:bob")] == [second.lien_id]
    clock.advance(hours=3)  # past the 2 h lien TTL, never started
    assert gov.accounts.open_liens("project:wgs-cohort") == []
    with pytest.raises(NotFound):
        gov.accounts.open_liens("project:nope")


def test_top_users_rank_charges_in_the_window_by_project_team_and_org(gov: Governance, clock) -> None:
    start = clock.now
    runs = [("alice", "wgs-cohort", 3), ("bob", "wgs-cohort", 5), ("alice", "rnaseq-atlas", 4),
            ("bob", "wgs-cohort", 1)]  # fmt: skip
    made = [gov.decide(Request(user_id=u, project=p, partition="cpu", cpus=2, walltime_hours=6), "t", reserve=True)
            for u, p, _ in runs]  # fmt: skip
    clock.advance(hours=5)
    for out, (_, _, hours) in zip(made[:3], runs, strict=False):
        gov.jobs.finish(out.decision_id, JobUsage(elapsed_hours=hours))
    end = clock.advance(minutes=1)
    gov.jobs.finish(made[3].decision_id, JobUsage(elapsed_hours=1))  # charged after the end
    assert [(u, a.cpu_hours) for u, a in gov.accounts.top_users("project:wgs-cohort", start, end)] == [
        ("bob", 10.0), ("alice", 6.0)]  # fmt: skip
    team = gov.accounts.top_users("team:genomics", start, end)
    assert [(u, a.cpu_hours) for u, a in team] == [("alice", 14.0), ("bob", 10.0)]
    assert [u for u, _ in gov.accounts.top_users("org:biocenter", start, end, limit=1)] == ["alice"]
    assert gov.accounts.top_users("team:ml-research", start, end) == []
    with pytest.raises(InvalidInput):
        gov.accounts.top_users("user:alice", start, end)
