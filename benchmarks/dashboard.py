"""The dashboard's overview for a large site: 3 orgs, 40 teams and 2,000 projects, each with a monthly budget of
CPU-hours, GPU-hours and cost, three weeks of charges (two a day per project) and 500 open liens, in SQLite.

Timed server-side, in-process (the ASGI app called through Starlette's test client, no network): the whole
``GET /ui/`` request — reading every budget's standing (``Standings.all``), ranking, alerts and rendering
the first page of 200 budgets — as the median of ``--runs`` (target ≤ 300 ms, issue 13); the standings alone;
and rendering every budget in one table, to show what the paging saves.

    python benchmarks/dashboard.py [--projects 2000] [--runs 7] [--database-url sqlite:///...]
"""

from __future__ import annotations

import os
import sys

sys.path.remove(os.path.dirname(os.path.abspath(__file__)))  # benchmarks/http.py would shadow the stdlib's http
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import argparse
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from fastapi.testclient import TestClient

from hpcpolicy.api import create_app
from hpcpolicy.auth import Authenticator, AuthSettings
from hpcpolicy.engine import Amounts
from hpcpolicy.ledger import Charge, Lien
from hpcpolicy.ledger.sql.connect import create_ledger_engine
from hpcpolicy.ledger.sql.ledger import SqlLedger
from hpcpolicy.ledger.sql.migrate import upgrade
from hpcpolicy.service import Governance, PolicyStore
from hpcpolicy.service.context import Context
from hpcpolicy.service.overview import budgets
from hpcpolicy.service.viewer import Viewer
from hpcpolicy.ui.pages import TEMPLATES

NOW = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)


def path(project: int) -> tuple[str, str]:
    """(org, team) of project ``project``: 40 teams, each in one of 3 orgs."""
    return f"org{project % 40 % 3}", f"team{project % 40}"


def policy(projects: int) -> dict[str, Any]:
    orgs: dict[str, Any] = {}
    for i in range(projects):
        org, team = path(i)
        teams = orgs.setdefault(org, {"quotas": [{"window": "monthly", "cost": 5e6}], "teams": {}})["teams"]
        t = teams.setdefault(team, {"quotas": [{"window": "monthly", "cpu_hours": 4e6, "gpu_hours": 2e5}],
                                    "projects": {}})  # fmt: skip
        t["projects"][f"p{i}"] = {"quotas": [{"window": "monthly", "cpu_hours": 40_000, "gpu_hours": 2_000,
                                              "cost": 5_000}]}  # fmt: skip
    users = {f"u{i}": {"projects": [f"p{i}"]} for i in range(projects)}
    return {"apiVersion": "hpcpolicy/v2", "metadata": {"name": "large"},
            "clusters": {"hpc": {"scheduler": "slurm", "partitions": {"cpu": {
                "nodes": {"count": 1000, "cpus": 64, "memory_gb": 256}, "rates": {"cpu_hour": 0.01}}}}},
            "orgs": orgs, "users": users}  # fmt: skip


def fill(ledger: SqlLedger, projects: int, rng: random.Random) -> int:
    """Charges for the last 21 days (two a day per project, some projects burning fast) and 500 open liens."""
    count = 0
    with ledger.session() as tx:
        for i in range(projects):
            burn = rng.choice([200.0, 600.0, 1400.0, 2100.0])
            org, team = path(i)
            for day in range(21):
                for n in range(2):
                    at = NOW - timedelta(days=day, hours=rng.uniform(0, 20))
                    cpu = burn * rng.uniform(0.3, 0.7)
                    amounts = Amounts(cpu, cpu / 40, cpu * 0.01)
                    key = f"c{i}-{day}-{n}"
                    tx.add_charge(Charge(key, None, None, f"u{i}", f"p{i}", team, org, "hpc", "cpu", amounts, at,
                                         "sync", key))  # fmt: skip
                    count += 1
        for n in range(500):
            i = rng.randrange(projects)
            org, team = path(i)
            tx.add_lien(Lien(f"l{n}", f"l{n}", f"u{i}", f"p{i}", team, org, "hpc", "cpu", 64, 0,
                             None, 256.0, 1, 10.0, Amounts(640.0, 0.0, 6.4), (0.01, 0.0, 0.0), NOW - timedelta(hours=1),
                             NOW + timedelta(hours=23)))  # fmt: skip
    return count


def timed(fn: Callable[[], object], runs: int) -> tuple[float, float, object]:
    times, result = [], None
    for _ in range(runs):
        started = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), min(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--projects", type=int, default=2_000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--database-url", default=None, help="an empty database (default: a temporary SQLite file)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "policy.yaml").write_text(yaml.safe_dump(policy(args.projects)))
        engine = create_ledger_engine(args.database_url or f"sqlite:///{tmp}/ledger.db")
        upgrade(engine)
        ledger = SqlLedger(engine)
        started = time.perf_counter()
        charges = fill(ledger, args.projects, random.Random(7))
        print(f"{args.projects:,} projects, {charges:,} charges and 500 liens written in "
              f"{time.perf_counter() - started:.0f} s ({engine.dialect.name})")  # fmt: skip
        gov = Governance(Context(ledger, PolicyStore.from_file(Path(tmp) / "policy.yaml", env={}), clock=lambda: NOW))
        dev = AuthSettings(_env_file=None, keys_file=None, api_keys=None, jwt_secret=None, jwt_public_key=None)
        with TestClient(create_app(gov, Authenticator(dev))) as client:
            client.get("/ui/")  # warm: templates compiled, policy indexes built
            median, best, response = timed(lambda: client.get("/ui/"), args.runs)
            html = response.text  # type: ignore[attr-defined]
            quotas = html.count('<tbody class="quota"')
            print(f"GET /ui/ (every budget read and ranked, first {quotas} rendered, {len(html) / 1024:.0f} KiB): "
                  f"{median:.0f} ms median of {args.runs}, best {best:.0f} ms; target ≤ 300 ms")  # fmt: skip
            median, best, response = timed(lambda: client.get("/ui/?risk=1"), args.runs)
            print(f"GET /ui/?risk=1: {median:.0f} ms median, best {best:.0f} ms")
        viewer = Viewer("dev", everything=True)
        median, best, standings = timed(lambda: budgets(gov, viewer, NOW), args.runs)
        print(f"standings of {len(standings):,} budgets alone: {median:.0f} ms median, best {best:.0f} ms")  # type: ignore[arg-type]
        template = TEMPLATES.get_template("overview.html")
        context = {"section": "overview", "total": len(standings), "matching": len(standings), "alerts": [],  # type: ignore[arg-type]
                   "more_alerts": 0, "q": "", "risk": 0, "n": 1, "pages_total": 1, "stylesheet": "/x.css",
                   "page": _Page(NOW)}  # fmt: skip
        median, best, full = timed(lambda: template.render(rows=standings, **context), args.runs)
        print(f"rendering all {len(standings):,} budgets in one table ({len(str(full)) / 1024:.0f} KiB): "  # type: ignore[arg-type]
              f"{median:.0f} ms median, best {best:.0f} ms (the overview pages them by 200)")
        engine.dispose()


class _Page:
    """What the overview template reads of a page when rendered outside a request."""

    def __init__(self, now: datetime):
        self.now = now
        self.dev_mode = True
        self.viewer = Viewer("dev", everything=True)
        self.who = _Who()


class _Who:
    is_admin = True

    def describe(self) -> str:
        return "dev mode"


if __name__ == "__main__":
    main()
