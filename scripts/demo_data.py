"""Three weeks of made-up activity on the example policy, for the dashboard's screenshots.

Usage charged by the scheduler's accounting (bulk, per project and user per day, busier lately on some
projects so their forecasts run dry before the month ends), decisions made through the service (allowed,
and denied for several reasons), open liens, a held request in the admission queue, and two policy
revisions (the second raises a quota) — all at a fixed "now", so the pictures do not depend on the day
the script runs.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from hpcpolicy.cluster.revisions import RevisionStore
from hpcpolicy.engine import Amounts, Request
from hpcpolicy.ledger import Charge, JobUsage
from hpcpolicy.ledger.sql.ledger import SqlLedger
from hpcpolicy.service import Governance, PolicyStore
from hpcpolicy.service.context import Context
from hpcpolicy.service.holding import Hold

NOW = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)
START = datetime(2026, 11, 1, tzinfo=UTC)
#: Per project: (team, org, each user's share, CPU-hours a day, GPU-hours a day, how much busier the last week is).
BURN = {
    "wgs-cohort": ("genomics", "biocenter", {"alice": 0.8, "bob": 0.2}, 8200.0, 4.0, 1.2),
    "rnaseq-atlas": ("genomics", "biocenter", {"alice": 0.96, "erin": 0.04}, 1500.0, 12.0, 1.0),
    "variant-calling": ("genomics", "biocenter", {"bob": 1.0}, 300.0, 9.0, 1.6),
    "protein-lm": ("ml-research", "biocenter", {"carol": 0.6, "dan": 0.4}, 200.0, 380.0, 1.7),
    "imaging-ai": ("ml-research", "biocenter", {"dan": 0.6, "carol": 0.35, "erin": 0.05}, 350.0, 70.0, 1.0),
}
EDITED = ("          - {window: monthly, cpu_hours: 20000, gpu_hours: 4000, cost: 15000, max_jobs: 50}",
          "          - {window: monthly, cpu_hours: 30000, gpu_hours: 4000, cost: 15000, max_jobs: 50}")  # fmt: skip


class Clock:
    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def populate(ledger: SqlLedger, seed: int = 7) -> Governance:
    """Fill ``ledger`` (migrated, empty) and return the service over it, its clock stopped at :data:`NOW`."""
    rng = random.Random(seed)
    clock = Clock(START)
    policies = PolicyStore.from_file(None, env={})
    original = policies.current
    revisions = RevisionStore(ledger, clock=clock)
    revisions.seed(original.loaded.version, original.text, "examples/policy.yaml", "user:root")
    gov = Governance(Context(ledger, policies, clock=clock))
    day = START
    while day < NOW.replace(hour=0):
        late = day >= NOW - timedelta(days=7)
        _charge_day(ledger, rng, day, late)
        clock.now = day + timedelta(hours=rng.randint(8, 18))
        _decisions(gov, rng)
        if day.day == 10:  # imaging-ai gets more CPU-hours
            edited = original.text.replace(*EDITED)
            active = policies.replace(edited, source="upload by user:root", author="user:root")
            revisions.append(active.loaded.version, edited, "upload by user:root", "user:root")
        day += timedelta(days=1)
    clock.now = NOW - timedelta(hours=3)
    _open_work(gov)
    clock.now = NOW
    return gov


def _charge_day(ledger: SqlLedger, rng: random.Random, day: datetime, late: bool) -> None:
    with ledger.session() as tx:
        for project, (team, org, users, cpu, gpu, lately) in BURN.items():
            factor = (lately if late else 1.0) * rng.uniform(0.7, 1.3)
            for user, part in users.items():
                share = part * rng.uniform(0.8, 1.2)
                amounts = Amounts(cpu * factor * share, gpu * factor * share, (cpu * 0.01 + gpu * 1.5) * factor * share)
                at = day + timedelta(hours=rng.uniform(1, 23))
                key = f"demo:{project}:{user}:{day:%Y%m%d}"
                partition = "gpu" if gpu > cpu / 20 else "cpu"
                tx.add_charge(Charge(key, None, None, user, project, team, org, "helix", partition, amounts, at, "sync",
                                     key, "l40s" if partition == "gpu" else None))  # fmt: skip


def _decisions(gov: Governance, rng: random.Random) -> None:
    """A few requests of the day, through the service: most admitted and run, some denied."""
    asks = [
        Request(user_id="alice", partition="cpu", cpus=32, walltime_hours=12),
        Request(user_id="bob", partition="gpu", gpus=2, walltime_hours=6),
        Request(user_id="carol", partition="dgx-a100", gpus=8, walltime_hours=4),
        Request(user_id="erin", project="imaging-ai", partition="gpu", gpus=1, walltime_hours=3),
        Request(user_id="alice", partition="gpu", gpus=1),  # gpu.role_required
        Request(user_id="erin", partition="cpu"),  # project.required
        Request(user_id="alice", project="protein-lm", partition="cpu"),  # project.not_member
        Request(user_id="carol", partition="dgx-a100", gpus=16, nodes=2, cpus=128, walltime_hours=48),  # needs a PI
        Request(user_id="bob", cpus=8, memory_gb=4096),  # route.no_fit
    ]
    for request in rng.sample(asks, 4):
        out = gov.decide(request, f"user:{request.user_id}", reserve=True)
        if out.allow:
            gov.jobs.start(out.decision_id, f"{rng.randint(100000, 999999)}")
            gov.ctx.clock.now += timedelta(hours=1)  # type: ignore[attr-defined]
            gov.jobs.finish(out.decision_id, JobUsage(elapsed_hours=rng.uniform(0.2, 0.9)))


def _open_work(gov: Governance) -> None:
    """Jobs reserved and running now, and a DGX request waiting for one of carol's two slots."""
    gov.decide(Request(user_id="alice", partition="cpu", cpus=64, walltime_hours=24), "user:alice", reserve=True)
    for n in range(2):
        out = gov.decide(Request(user_id="carol", partition="dgx-a100", gpus=8, walltime_hours=8), "user:carol",
                         reserve=True)  # fmt: skip
        gov.jobs.start(out.decision_id, f"88{n}")
    gov.decide(Request(user_id="carol", partition="dgx-a100", gpus=8, walltime_hours=8), "user:carol", hold=Hold())
