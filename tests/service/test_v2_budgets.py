"""v2 budgets through the service: weights recorded on liens and applied to charges, member shares,
sliced quotas with their own adjustments, all on the in-memory ledger and SQLite."""

from __future__ import annotations

import pytest

from hpcpolicy.engine import Amounts, Request, compile_policy
from hpcpolicy.ledger import AdjustmentKind, JobUsage
from hpcpolicy.policy import LoadedPolicy
from hpcpolicy.service import Governance, NotFound
from hpcpolicy.service.policy_store import ActivePolicy
from tests.builders import PolicyBuilder
from tests.service.conftest import Clock

JOB = Request(user_id="u", partition="dgx", gpus=2, cpus=8, walltime_hours=2)


def v2(gov: Governance) -> Governance:
    """``gov`` with a policy: a DGX partition counting GPU-hours double, a 40 GPU-hour quota on its slice,
    and a 30 CPU-hour share for each member of proj."""
    b = PolicyBuilder().guards(gpu=None).partition(
        "dgx", nodes={"count": 2, "cpus": 64, "memory_gb": 512, "gpus": 8, "gpu_type": "a100"},
        rates={"cpu_hour": 0.1, "gpu_hour": {"a100": 3.0}},
    )  # fmt: skip
    b.set("clusters.hpc.partitions.dgx.hour_weights", {"gpu": {"a100": 2.0}})
    b.project_quota(name="dgx", gpu_hours=40, slice={"partitions": ["dgx"]})
    b.set("orgs.org.teams.team.projects.proj.member_quotas", [{"cpu_hours": 30}])
    policy = b.build()
    active = ActivePolicy(LoadedPolicy(policy, "v2@test", "test"), compile_policy(policy, "v2@test"), "")
    gov.ctx.policies.install(active)
    return gov


def available(gov: Governance, scope: str, quota_id: str, metric: str) -> float | None:
    return next(b.available for b in gov.accounts.balances(scope) if b.quota_id == quota_id and b.metric == metric)


def test_weights_are_recorded_at_admission_and_applied_to_what_is_charged(gov: Governance, clock: Clock) -> None:
    gov = v2(gov)
    out = gov.decide(JOB, "test", reserve=True)
    assert out.allow and out.decision["estimate"]["gpu_hours"] == 8  # 2 GPUs × 2 h × weight 2
    assert available(gov, "project:proj", "project:proj#dgx", "gpu_hours") == 32
    clock.advance(hours=1)
    lien, charge = gov.jobs.finish(out.decision_id, JobUsage(elapsed_hours=1))
    assert lien.weights == (1.0, 2.0)
    assert charge is not None and charge.amounts.gpu_hours == 4 and charge.raw_hours == (8, 2)
    assert charge.amounts.cost == pytest.approx(8 * 0.1 + 2 * 3.0)  # priced from raw hours
    assert charge.gpu_type == "a100"
    assert available(gov, "project:proj", "project:proj#dgx", "gpu_hours") == 36


def test_a_members_share_is_its_own_scope(gov: Governance, clock: Clock) -> None:
    gov = v2(gov)
    assert gov.decide(JOB, "test", reserve=True).allow  # 16 CPU-hours of u's 30
    assert available(gov, "project:proj/user:u", "project:proj/user:u", "cpu_hours") == 14
    denied = gov.decide(JOB, "test", reserve=True)
    assert not denied.allow and denied.decision["violations"][0]["scope"] == "project:proj/user:u"
    with pytest.raises(NotFound):
        gov.accounts.balances("project:nope/user:u")


def test_an_adjustment_on_a_quota_id_counts_for_that_quota_alone(gov: Governance) -> None:
    gov = v2(gov)
    gov.accounts.adjust("project:proj#dgx", AdjustmentKind.DEBIT, Amounts(gpu_hours=30), "DGX repair time", "admin")
    assert available(gov, "project:proj", "project:proj#dgx", "gpu_hours") == 10
    assert gov.decide(JOB, "test").allow  # 8 weighted GPU-hours fit the 10 left
    assert not gov.decide(JOB.model_copy(update={"walltime_hours": 3}), "test").allow  # 12 do not
    with pytest.raises(NotFound, match="quota ids: project:proj#dgx"):
        gov.accounts.adjust("project:proj#nope", AdjustmentKind.GRANT, Amounts(gpu_hours=1), "x", "admin")
