"""A reserved decision against a ledger with history: does its balance check grow with the charges?

The synthetic centre of benchmarks/center.py (2,000 projects, 6,000 users, 3,000 open liens) with
``--charges`` charges over the last 45 days, on SQLite with the audit log on; timed in-process (no HTTP):
``Governance.decide(..., reserve=True)`` for a one-CPU job of each project's first user in turn, so every
decision checks a project, a team, an org, a member and a user budget. Before the running totals (issue 14,
docs/design/usage-buckets.md) each check summed the window's charges of each scope on the path.

    python benchmarks/history.py [--charges 20000 200000] [--decisions 2000]
"""

from __future__ import annotations

import os
import sys

sys.path.remove(os.path.dirname(os.path.abspath(__file__)))  # benchmarks/http.py would shadow the stdlib's http
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import argparse
import statistics
import time

from benchmarks.center import NOW, centre

from hpcpolicy.engine import Request
from hpcpolicy.ledger.sql.ledger import SqlLedger
from hpcpolicy.service import Governance, PolicyStore
from hpcpolicy.service.context import Context

PROJECTS = 2000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--charges", type=int, nargs="+", default=[20_000, 200_000])
    parser.add_argument("--decisions", type=int, default=2000)
    args = parser.parse_args()
    for count in args.charges:
        with centre(PROJECTS, count, NOW, None) as (engine, policy):
            gov = Governance(Context(SqlLedger(engine, audit=True), PolicyStore.from_file(policy, env={}),
                                     clock=lambda: NOW))  # fmt: skip
            times = []
            for k in range(args.decisions):
                project = k % PROJECTS
                request = Request(user_id=f"u{project * 3:05d}", project=f"proj{project:04d}", partition="cpu",
                                  cpus=1, walltime_hours=0.01)  # fmt: skip
                started = time.perf_counter()
                gov.decide(request, "bench", reserve=True)
                times.append((time.perf_counter() - started) * 1000)
            times.sort()
            print(f"{count:>9,} charges: reserved decision median {statistics.median(times):.2f} ms, "
                  f"p99 {times[int(len(times) * 0.99)]:.2f} ms ({args.decisions:,} decisions, SQLite)")  # fmt: skip


if __name__ == "__main__":
    main()
