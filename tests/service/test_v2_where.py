"""v2 "where" through the service: a fallback chosen because the route is closed is decided against its own
(sliced) quotas, and an exclusive job's lien holds whole nodes; on the in-memory ledger and SQLite."""

from __future__ import annotations

from hpcpolicy.engine import Amounts, Request, compile_policy
from hpcpolicy.ledger import AdjustmentKind, JobUsage
from hpcpolicy.policy import LoadedPolicy
from hpcpolicy.service import Governance
from hpcpolicy.service.policy_store import ActivePolicy
from tests.builders import PolicyBuilder
from tests.service.conftest import Clock

OFFICE = {"open": [{"days": ["mon", "tue", "wed", "thu", "fri"], "from": "08:00", "to": "20:00"}]}


def install(gov: Governance, b: PolicyBuilder) -> Governance:
    policy = b.build()
    gov.ctx.policies.install(ActivePolicy(LoadedPolicy(policy, "where@test", "test"), compile_policy(policy, "w"), ""))
    return gov


def test_a_fallback_is_checked_against_the_quotas_of_its_own_slice(gov: Governance, clock: Clock) -> None:
    """``interactive`` is cheaper but closed on Sundays; ``cpu`` has its own sliced budget, spent."""
    b = PolicyBuilder().partition("interactive", rates={"cpu_hour": 0.5})
    b.set("clusters.hpc.partitions.interactive.schedule", OFFICE)
    b.project_quota(name="cpu", cpu_hours=10, slice={"partitions": ["cpu"]})
    gov = install(gov, b)
    job = Request(user_id="u", cpus=2, walltime_hours=1)
    assert clock.now.weekday() == 6  # a Sunday
    first = gov.decide(job, "test")
    assert first.allow and first.decision["route"]["partition"] == "cpu"
    gov.accounts.adjust("project:proj#cpu", AdjustmentKind.DEBIT, Amounts(cpu_hours=10), "spent", "admin")
    spent = gov.decide(job, "test")
    assert not spent.allow
    assert [(v["code"], v["scope"]) for v in spent.decision["violations"]] == [
        ("quota.cpu_hours_exceeded", "project:proj#cpu")
    ]


def test_an_exclusive_job_holds_and_may_report_whole_nodes(gov: Governance, clock: Clock) -> None:
    b = PolicyBuilder().set("clusters.hpc.partitions.cpu.exclusive", True)
    gov = install(gov, b)
    out = gov.decide(Request(user_id="u", partition="cpu", cpus=2, walltime_hours=2), "test", reserve=True)
    assert out.allow and out.decision["estimate"]["cpu_hours"] == 64  # one 32-CPU node for 2 h
    clock.advance(hours=1)
    lien, charge = gov.jobs.finish(out.decision_id, JobUsage(elapsed_hours=1, cpus=32))  # Slurm's AllocCPUS
    assert (lien.cpus, lien.memory_gb) == (32, 128)
    assert charge is not None and charge.amounts.cpu_hours == 32
