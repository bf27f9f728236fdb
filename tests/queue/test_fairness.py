"""Fairness over a long run (issue 12): users with equal shares and steady demand for one shared cap each
get their share of the admitted usage, whatever the size of their jobs, and no request starves.

The real service and dispatcher on the memory ledger with a hand-moved clock: a project whose members
share two concurrent slots; every user always has requests waiting (a new one is held as soon as one of
theirs is admitted); each step the oldest running job ends after its walltime and the dispatcher admits
the next request. Admitted usage is counted in CPU-hours, as fair share counts it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hpcpolicy.engine import Request
from hpcpolicy.ledger import JobUsage
from hpcpolicy.ledger.memory import MemoryLedger
from hpcpolicy.service import Governance
from hpcpolicy.service.dispatcher import Dispatcher
from hpcpolicy.service.holding import Hold
from tests.queue.conftest import make_gov
from tests.service.conftest import Clock

SLOTS = 2
WAITING_PER_USER = 3
MAX_AGE_HOURS = 168  # Slurm's default PriorityMaxAge, and ours


def policy(users: int) -> str:
    members = "\n".join(f"  u{k}: {{projects: [p]}}" for k in range(users))
    return f"""
apiVersion: hpcpolicy/v2
defaults:
  user_quota: {{cpu_hours: 100000000}}
clusters:
  helix:
    scheduler: slurm
    partitions:
      cpu:
        nodes: {{count: 10, cpus: 64, memory_gb: 256}}
orgs:
  uni:
    teams:
      t:
        projects:
          p: {{quotas: [{{max_jobs: {SLOTS}}}]}}
users:
{members}
fairshare:
  half_life_days: 2
  priority: {{fairshare: 1000, age: 1000, max_age_hours: {MAX_AGE_HOURS}}}
"""


def ask(gov: Governance, user: str, cpus: int, running: list[str]) -> str:
    """Ask for a job: held, or admitted at once while a slot is free (then it runs)."""
    request = Request(user_id=user, partition="cpu", cpus=cpus, walltime_hours=1)
    out = gov.decide(request, f"user:{user}", hold=Hold(ttl=timedelta(days=7)))
    assert out.held is not None or out.allow
    if out.allow:
        running.append(out.decision_id)
    return out.decision_id


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sizes=st.lists(st.integers(1, 8), min_size=2, max_size=5))
def test_equal_shares_get_equal_usage_and_nobody_starves(sizes: list[int], tmp_path: Path) -> None:
    """``sizes[k]``: the CPUs of every job of user k (a user with 8-CPU jobs gets fewer jobs, not more usage)."""
    clock = Clock(datetime(2026, 11, 2, tzinfo=UTC))
    gov = make_gov(MemoryLedger(), tmp_path, clock, policy(len(sizes)))
    dispatcher = Dispatcher(gov)
    gov.ctx.observers.on_freed(dispatcher.freed)
    users = [f"u{k}" for k in range(len(sizes))]
    asked_at: dict[str, datetime] = {}
    owner: dict[str, int] = {}
    running: list[str] = []
    for k, user in enumerate(users):
        for _ in range(WAITING_PER_USER):
            decision_id = ask(gov, user, sizes[k], running)
            asked_at[decision_id], owner[decision_id] = clock(), k
    waits: list[float] = []
    usage = [0.0] * len(users)
    steps = 150 * len(users)
    for step in range(steps):
        running += [e.id for e in dispatcher.step().admitted]
        for decision_id in running:
            if gov.jobs.get(decision_id)[0].started_at is None:
                gov.jobs.start(decision_id)
        clock.advance(minutes=30)  # two slots of one-hour jobs: one ends every half hour
        done = running.pop(0)
        lien, _ = gov.jobs.get(done)
        assert lien.started_at is not None
        elapsed = (clock() - lien.started_at).total_seconds() / 3600
        gov.jobs.finish(done, JobUsage(elapsed_hours=elapsed))
        k = owner[done]
        waits.append((gov.get_decision(done).at - asked_at[done]).total_seconds() / 3600)
        if step >= steps // 3:  # after the warm-up: the share is judged on the steady state
            usage[k] += sizes[k] * elapsed
        replacement = ask(gov, users[k], sizes[k], running)  # steady demand: the user asks again
        asked_at[replacement], owner[replacement] = clock(), k
    share = 1 / len(users)
    fractions = [u / sum(usage) for u in usage]
    assert all(abs(f - share) <= 0.10 * share for f in fractions), (sizes, fractions)  # within 10 % of the share
    assert max(waits) <= MAX_AGE_HOURS, (sizes, max(waits))  # age bounds the wait
