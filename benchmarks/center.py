"""A synthetic research-computing centre for benchmarks: a policy of many projects and a ledger of their usage.

``policy_yaml(projects)`` writes orgs (one per 100 projects), teams (one per 10), projects and users (three
per project, each also in a neighbour's project), budgets at every level (a tenth of the projects also
have a GPU slice, a tenth of the users a personal budget); ``load_usage`` fills a SQL ledger with charges
spread over the last ``days`` days (bulk inserts, not the service: loading is not what is measured; their
running totals computed after, as ``hpcpolicy db check --repair`` would) and with open liens, a third of them
running (their running totals also computed after).

Used by benchmarks/standings.py and benchmarks/dashboard.py.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine, insert

from hpcpolicy.ledger.sql.bucket_check import backfill
from hpcpolicy.ledger.sql.connect import create_ledger_engine
from hpcpolicy.ledger.sql.held_check import fill
from hpcpolicy.ledger.sql.migrate import upgrade
from hpcpolicy.ledger.sql.rows import to_db
from hpcpolicy.ledger.sql.tables import charges, liens
from tests.dbservers import truncate

GPU_TYPES = ("a100", "l40s", "h100")
#: The benchmarks' "now": charges are dated in the 45 days before it.
NOW = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)


def add_options(parser: argparse.ArgumentParser, runs: int = 7) -> None:
    """The options of a benchmark over the centre: its size, how many runs, and which database."""
    parser.add_argument("--projects", type=int, default=2000)
    parser.add_argument("--charges", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=runs)
    parser.add_argument("--database-url", help="a server database instead of a SQLite file (truncated!)")


@contextmanager
def centre(projects: int, charge_count: int, now: datetime, database_url: str | None) -> Iterator[tuple[Engine, Path]]:
    """A migrated ledger (a SQLite file, or ``database_url`` truncated first and after) filled with the centre's
    usage, and its policy file: (engine, policy path)."""
    with tempfile.TemporaryDirectory() as tmp:
        engine = create_ledger_engine(database_url or f"sqlite:///{Path(tmp) / 'ledger.db'}")
        upgrade(engine)
        if database_url:
            truncate(engine)
        policy = Path(tmp) / "policy.yaml"
        policy.write_text(policy_yaml(projects))
        load_usage(engine, projects, charge_count, now)
        try:
            yield engine, policy
        finally:
            if database_url:
                truncate(engine)
            engine.dispose()


def names(projects: int) -> list[tuple[str, str, str, list[str]]]:
    """(org, team, project, users) per project."""
    out = []
    for p in range(projects):
        users = [f"u{p * 3 + k:05d}" for k in range(3)]
        out.append((f"org{p // 100:02d}", f"team{p // 10:03d}", f"proj{p:04d}", users))
    return out


def policy_yaml(projects: int) -> str:
    lines = [
        "apiVersion: hpcpolicy/v2",
        "defaults:",
        "  user_quota: {cpu_hours: 5000, window: monthly}",
        "clusters:",
        "  helix:",
        "    scheduler: slurm",
        "    partitions:",
        "      cpu: {nodes: {count: 500, cpus: 64, memory_gb: 256}, rates: {cpu_hour: 0.01}}",
        "      gpu:",
        "        nodes: {count: 100, cpus: 48, memory_gb: 512, gpus: 4, gpu_type: a100}",
        "        rates: {cpu_hour: 0.02, gpu_hour: {a100: 3.0, l40s: 1.0, h100: 4.0}}",
        "orgs:",
    ]
    rows = names(projects)
    for org in sorted({r[0] for r in rows}):
        lines += [f"  {org}:", "    quotas: [{window: monthly, cpu_hours: 5000000, gpu_hours: 200000, cost: 900000}]",
                  "    teams:"]  # fmt: skip
        for team in sorted({r[1] for r in rows if r[0] == org}):
            lines += [f"      {team}:", "        quotas: [{window: quarterly, cpu_hours: 900000, gpu_hours: 30000}]",
                      "        projects:"]  # fmt: skip
            for _, _, project, _ in (r for r in rows if r[1] == team):
                n = int(project[4:])  # budgets from tight to generous, so some are at risk
                cpu = 2000 + n % 50 * 1000
                quota = f"{{name: month, window: monthly, cpu_hours: {cpu}, gpu_hours: 2000, cost: 9000}}"
                if n % 10 == 0:
                    quota += ", {name: a100, window: monthly, gpu_hours: 500, slice: {gpu_types: [a100]}}"
                lines.append(f"          {project}: {{quotas: [{quota}]}}")
    lines.append("users:")
    for index, (_, _, project, users) in enumerate(rows):
        neighbour = rows[(index + 1) % len(rows)][2]
        for k, user in enumerate(users):
            own = ", quotas: [{window: {rolling_days: 30}, cpu_hours: 20000}]" if k == 0 and index % 10 == 3 else ""
            lines.append(f"  {user}: {{projects: [{project}, {neighbour}], default_project: {project}{own}}}")
    return "\n".join(lines) + "\n"


def load_usage(engine: Engine, projects: int, charge_count: int, now: datetime, days: int = 45,
               open_liens: int = 3000, seed: int = 7) -> None:  # fmt: skip
    """``charge_count`` charges dated uniformly over the ``days`` days before ``now``, and open liens."""
    rng = random.Random(seed)
    rows = names(projects)
    batch: list[dict[str, object]] = []
    with engine.begin() as conn:
        for n in range(charge_count):
            org, team, project, users = rows[rng.randrange(len(rows))]
            gpus = rng.random() < 0.3
            cpu = rng.uniform(1, 400)
            gpu = rng.uniform(1, 40) if gpus else 0.0
            batch.append({
                "id": uuid.UUID(int=rng.getrandbits(128)).hex, "lien_id": None, "job_id": str(n),
                "user_id": rng.choice(users), "project": project, "team": team, "org": org, "cluster": "helix",
                "partition": "gpu" if gpus else "cpu", "cpu_hours": cpu, "gpu_hours": gpu,
                "cost": cpu * 0.01 + gpu * 3.0, "at": to_db(now - timedelta(seconds=rng.uniform(0, days * 86400))),
                "source": "sync", "key": f"bench:{n}", "gpu_type": rng.choice(GPU_TYPES) if gpus else None,
                "raw_cpu_hours": None, "raw_gpu_hours": None,
            })  # fmt: skip
            if len(batch) == 20_000:
                conn.execute(insert(charges), batch)
                batch = []
        if batch:
            conn.execute(insert(charges), batch)
        backfill(conn)  # the running totals each charge would have added to (usage_buckets)
        held = []
        for n in range(open_liens):
            org, team, project, users = rows[rng.randrange(len(rows))]
            running = n % 3 == 0
            created = now - timedelta(hours=rng.uniform(0, 20))
            walltime = rng.uniform(1, 48)
            cpus = rng.randint(1, 64)
            held.append({
                "id": uuid.UUID(int=rng.getrandbits(128)).hex, "decision_id": f"d{n}", "user_id": rng.choice(users),
                "project": project, "team": team, "org": org, "cluster": "helix", "partition": "cpu", "cpus": cpus,
                "gpus": 0, "gpu_type": None, "memory_gb": 4.0, "nodes": 1, "walltime_hours": walltime,
                "cpu_hours": cpus * walltime, "gpu_hours": 0.0, "cost": cpus * walltime * 0.01, "rate_cpu": 0.01,
                "rate_gpu": 0.0, "rate_mem": 0.0, "created_at": to_db(created),
                "expires_at": to_db(created + timedelta(days=1)), "state": "running" if running else "reserved",
                "job_id": str(10**7 + n) if running else None, "started_at": to_db(created) if running else None,
                "ended_at": None, "policy_version": "bench", "weight_cpu": 1.0, "weight_gpu": 1.0, "service": None,
                "closed_at": None,
            })  # fmt: skip
        conn.execute(insert(liens), held)
        fill(conn)  # the open liens' running totals (held_totals), as add_lien keeps them
