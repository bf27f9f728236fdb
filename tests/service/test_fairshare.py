"""Fair share from the ledger: charged usage weighted and decayed, running jobs counted as they run, the
Fair Tree over the example policy's accounts (memory and SQL ledgers alike)."""

from __future__ import annotations

import pytest

from hpcpolicy.engine import Request
from hpcpolicy.engine.fairshare import Row
from hpcpolicy.ledger import JobUsage
from hpcpolicy.service import Governance


def run(gov: Governance, clock, user: str, cpus: int, hours: float) -> None:  # type: ignore[no-untyped-def]
    out = gov.decide(Request(user_id=user, partition="cpu", cpus=cpus, walltime_hours=hours), "test", reserve=True)
    assert out.allow, out.decision
    gov.jobs.start(out.decision_id)
    clock.advance(hours=hours)
    gov.jobs.finish(out.decision_id, JobUsage(elapsed_hours=hours))


def by_scope(rows: list[Row]) -> dict[str, Row]:
    return {r.scope: r for r in rows}


def test_the_heavier_project_ranks_below_its_sibling_and_usage_decays(gov: Governance, clock) -> None:
    run(gov, clock, "alice", 16, 4)  # 64 CPU-hours on wgs-cohort
    run(gov, clock, "bob", 1, 2)  # 2 on variant-calling
    rows = by_scope(gov.fairshare.tree())
    alice, bob = rows["project:wgs-cohort/user:alice"], rows["project:variant-calling/user:bob"]
    aged = 0.5 ** (2 / (7 * 24))  # alice's charge is two hours old: the default half-life is 7 days
    assert alice.raw_usage == pytest.approx(64 * aged) and bob.raw_usage == pytest.approx(2)
    assert bob.factor is not None and alice.factor is not None and bob.factor > alice.factor
    assert rows["team:genomics"].raw_usage == pytest.approx(64 * aged + 2)
    assert rows["project:wgs-cohort/user:bob"].raw_usage == 0  # bob's other association: a member, no usage
    clock.advance(days=7)  # one half-life (the default)
    later = by_scope(gov.fairshare.tree())
    assert later["project:wgs-cohort/user:alice"].raw_usage == pytest.approx(32 * aged)


def test_a_running_job_counts_for_the_part_of_its_estimate_it_has_used(gov: Governance, clock) -> None:
    out = gov.decide(Request(user_id="alice", partition="cpu", cpus=10, walltime_hours=10), "test", reserve=True)
    gov.jobs.start(out.decision_id)
    clock.advance(hours=4)  # 40 % of the 100 CPU-hour estimate
    assert by_scope(gov.fairshare.tree())["project:wgs-cohort/user:alice"].raw_usage == pytest.approx(40)
