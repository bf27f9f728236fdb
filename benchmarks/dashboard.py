"""The dashboard's overview for a large centre (benchmarks/center.py: 20 orgs, 200 teams, 2,000 projects,
6,000 users, charges over 45 days, 3,000 open liens), timed server-side: target ≤ 300 ms (issue 13).

In-process (the ASGI app called through Starlette's test client, no network), median and best of ``--runs``:

- ``GET /ui/`` as served: the budgets from the shared reading (``Standings.current``, reused while younger
  than ``HPCPOLICY_STANDINGS_MAX_AGE_SECONDS``, 30 s), ranked, alerts, the first 200 rendered;
- ``GET /ui/`` when every request reads the ledger afresh (max age 0): the price of the reading itself;
- ``GET /ui/scopes/<project>``: one scope, read live, with its burn-down charts;
- every budget rendered in one table: what the overview's pages of 200 save.

    python benchmarks/dashboard.py [--projects 2000] [--charges 200000] [--runs 7] [--database-url URL]
"""

from __future__ import annotations

import os
import sys

sys.path.remove(os.path.dirname(os.path.abspath(__file__)))  # benchmarks/http.py would shadow the stdlib's http
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import argparse
import statistics
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from benchmarks.center import NOW, add_options, centre
from fastapi.testclient import TestClient

from hpcpolicy.api import create_app
from hpcpolicy.auth import Authenticator, AuthSettings
from hpcpolicy.ledger.sql.ledger import SqlLedger
from hpcpolicy.service import Governance, PolicyStore
from hpcpolicy.service.context import Context
from hpcpolicy.service.viewer import Viewer
from hpcpolicy.ui.pages import TEMPLATES

DEV = AuthSettings(_env_file=None, keys_file=None, api_keys=None, jwt_secret=None, jwt_public_key=None)


def timed(fn: Callable[[], Any], runs: int) -> tuple[str, Any]:
    times, result = [], None
    for _ in range(runs):
        started = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - started) * 1000)
    return f"{statistics.median(times):.0f} ms median of {runs}, best {min(times):.0f} ms", result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_options(parser)
    args = parser.parse_args()
    with centre(args.projects, args.charges, NOW, args.database_url) as (engine, policy):
        print(f"{args.projects:,} projects, {args.charges:,} charges, 3,000 open liens ({engine.dialect.name})")
        started = time.monotonic()

        def clock() -> datetime:  # NOW, moving on as the benchmark runs (a reading of max age 0 is not reused)
            return NOW + timedelta(seconds=time.monotonic() - started)

        for max_age, what in ((30.0, "as served (a reading reused up to 30 s)"), (0.0, "reading afresh")):
            context = Context(SqlLedger(engine), PolicyStore.from_file(policy, env={}), clock=clock,
                              standings_max_age=timedelta(seconds=max_age))  # fmt: skip
            gov = Governance(context)
            with TestClient(create_app(gov, Authenticator(DEV))) as client:
                client.get("/ui/")  # warm: templates compiled, policy indexes built, the reading made
                figures, response = timed(lambda: client.get("/ui/"), args.runs)
                shown = response.text.count('<tbody class="quota"')
                print(f"GET /ui/ {what}: {figures} ({shown} of the budgets rendered, "
                      f"{len(response.text) / 1024:.0f} KiB); target ≤ 300 ms")  # fmt: skip
                if max_age:
                    figures, _ = timed(lambda: client.get("/ui/scopes/project:proj0007"), args.runs)
                    print(f"GET /ui/scopes/project:proj0007 (read live, with charts): {figures}")
        standings = gov.standings.all()
        page = {"now": NOW, "dev_mode": True, "viewer": Viewer("dev", everything=True),
                "who": {"is_admin": True, "describe": lambda: "dev mode"}}  # fmt: skip
        values = {"section": "overview", "total": len(standings), "matching": len(standings), "alerts": [],
                  "more_alerts": 0, "q": "", "risk": 0, "n": 1, "pages_total": 1, "stylesheet": "/s.css",
                  "as_of": NOW, "page": page}  # fmt: skip
        template = TEMPLATES.get_template("overview.html")
        figures, html = timed(lambda: template.render(rows=standings, **values), args.runs)
        print(f"all {len(standings):,} budgets in one table ({len(html) / 1024:.0f} KiB): {figures}")


if __name__ == "__main__":
    main()
