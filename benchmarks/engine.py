"""Engine latency: p50/p99 of one in-process ``evaluate()`` call, in microseconds.

Two policies: the packaged example, and a generated large one (100 partitions, 2,000 projects,
20,000 users, quotas on every scope). Requests are pre-built (parsing is the API's cost, not the
engine's), users and projects drawn at random, usage snapshots filled for every scope on the path.
Two request mixes: the partition named (the common case from Slurm and the API), and no partition
(the engine routes: every partition is a candidate). Run: ``python benchmarks/engine.py [--n 20000]``.
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import time
from datetime import UTC, datetime
from typing import Any

from hpcpolicy.engine import Active, Amounts, PolicySnapshot, Request, UsageSnapshot, compile_policy, evaluate
from hpcpolicy.policy import Policy, load_policy, policy_version

NOW = datetime(2026, 11, 15, tzinfo=UTC)


def large_policy(partitions: int = 100, projects: int = 2000, users: int = 20000, seed: int = 7) -> Policy:
    rng = random.Random(seed)
    clusters: dict[str, Any] = {}
    for i in range(partitions):
        cluster = clusters.setdefault(f"cluster{i % 4}", {"scheduler": "slurm", "partitions": {}})
        gpus = 8 if i % 3 == 0 else 0
        part: dict[str, Any] = {
            "nodes": {
                "count": 32,
                "cpus": 64,
                "memory_gb": 512,
                "gpus": gpus,
                **({"gpu_type": "a100"} if gpus else {}),
            },
            "limits": {"max_walltime_hours": 72, "max_nodes": 8},
            "rates": {"cpu_hour": 0.01 + i / 10000, "gpu_hour": {"a100": 2.0}, "memory_gb_hour": 0.001},
        }
        if i % 10 == 0:
            part["access"] = {"roles": ["special"]}
        cluster["partitions"][f"p{i:03d}"] = part
    quota = {"window": "monthly", "cpu_hours": 1e6, "gpu_hours": 1e5, "cost": 1e6, "max_jobs": 1000}
    teams: dict[str, Any] = {}
    for t in range(100):
        teams[f"team{t:03d}"] = {
            "quotas": [quota],
            "projects": {f"proj{t * 20 + j:04d}": {"quotas": [quota]} for j in range(projects // 100)},
        }
    user_docs = {}
    for u in range(users):
        mine = sorted({f"proj{rng.randrange(projects):04d}" for _ in range(rng.randint(1, 3))})
        user_docs[f"user{u:05d}"] = {
            "projects": mine,
            "default_project": mine[0],
            "roles": ["gpu_user"] if u % 2 else [],
            "quotas": [{"window": "monthly", "cpu_hours": 5000, "max_jobs": 50}],
        }
    doc = {
        "apiVersion": "hpcpolicy/v1",
        "metadata": {"name": "large"},
        "clusters": clusters,
        "orgs": {"org": {"quotas": [{"window": "yearly", "cost": 1e9}], "teams": teams}},
        "users": user_docs,
    }
    return Policy.model_validate(doc)


def requests_for(snap: PolicySnapshot, n: int, routed: bool, seed: int = 11) -> list[tuple[Request, UsageSnapshot]]:
    rng = random.Random(seed)
    users = list(snap.policy.users) or ["guest"]
    names = [p.name for p in snap.partitions if not p.access.allow.roles]
    out = []
    for _ in range(n):
        user = rng.choice(users)
        spec = snap.policy.users.get(user)
        project = rng.choice(spec.projects) if spec and spec.projects else None
        gpus = rng.choice([0, 0, 0, 1, 2]) if not routed else 0
        partition = None
        if not routed:
            fitting = [p for p in snap.partitions if p.name in names and (p.max_gpus >= gpus)]
            partition = rng.choice(fitting).name
        req = Request(
            user_id=user,
            project=project,
            partition=partition,
            cpus=rng.choice([1, 4, 16, 32]),
            gpus=gpus,
            memory_gb=rng.choice([4, 32, 128]),
            walltime_hours=rng.choice([1, 4, 12, 24]),
            roles=("gpu_user",),
        )
        consumed: dict[str, Amounts] = {}
        active: dict[str, Active] = {}
        if project is not None:
            team, org = snap.project_parents[project]
            for scope in (f"user:{user}", f"project:{project}", f"team:{team}"):
                consumed[scope] = Amounts(rng.uniform(0, 1000), rng.uniform(0, 100), rng.uniform(0, 1000))
                active[scope] = Active(rng.randint(0, 5), rng.randint(0, 4))
            consumed[f"org:{org}"] = Amounts(cost=rng.uniform(0, 1e6))
        out.append((req, UsageSnapshot(consumed, active)))
    return out


def measure(snap: PolicySnapshot, cases: list[tuple[Request, UsageSnapshot]]) -> dict[str, float]:
    for req, usage in cases[:500]:  # warm up
        evaluate(req, snap, usage, now=NOW)
    samples = []
    allowed = 0
    gc.disable()
    try:
        for req, usage in cases:
            t0 = time.perf_counter_ns()
            d = evaluate(req, snap, usage, now=NOW)
            samples.append(time.perf_counter_ns() - t0)
            allowed += d.allow
    finally:
        gc.enable()
    samples.sort()
    return {
        "p50_us": samples[len(samples) // 2] / 1000,
        "p99_us": samples[int(len(samples) * 0.99)] / 1000,
        "mean_us": statistics.fmean(samples) / 1000,
        "allowed": allowed / len(samples),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20000, help="decisions per scenario")
    args = parser.parse_args()
    example = load_policy()
    t0 = time.perf_counter()
    big = large_policy()
    big_snap = compile_policy(big, policy_version(big))
    build_s = time.perf_counter() - t0
    snaps = {"example": compile_policy(example.policy, example.version), "large": big_snap}
    print(f"large policy: 100 partitions, 2,000 projects, 20,000 users (built and compiled in {build_s:.1f} s)")
    print(f"{'policy':8} {'request mix':22} {'p50 µs':>8} {'p99 µs':>8} {'mean µs':>8} {'allowed':>8}")
    for name, snap in snaps.items():
        for routed in (False, True):
            mix = "routed (no partition)" if routed else "partition named"
            r = measure(snap, requests_for(snap, args.n, routed))
            print(f"{name:8} {mix:22} {r['p50_us']:8.1f} {r['p99_us']:8.1f} {r['mean_us']:8.1f} {r['allowed']:8.0%}")


if __name__ == "__main__":
    main()
