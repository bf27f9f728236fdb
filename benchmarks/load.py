"""Load benchmark: reserved decisions/s and latency against N replicas on one PostgreSQL database.

Creates a fresh database on the server of ``--database-url`` (default: the local PostgreSQL), migrates it
once, starts N ``hpcpolicy serve`` processes on it (dev mode, one uvicorn worker each, a policy whose
default user quota is effectively unlimited), and drives ``POST /v1/decisions`` with ``reserve: true``
over 64 keep-alive connections spread round-robin over the replicas (a client-side load balancer).
Users are spread over 997 ids. ``--accounts flat`` (the default): all in the default path, so the locks
taken are per user; ``org``: in one org's projects (``loadgen.org_policy``), so every admission also locks
the org's scope and they are serialised across the replicas, as one busy org's are.

    python benchmarks/load.py [--replicas 1 2 4] [--requests 10000] [--rate 1000] [--accounts flat|org]
                              [--database-url URL]

Reports closed-loop throughput (64 clients firing back to back) and open-loop latency at ``--rate``
decisions/s offered (see loadgen.py). ``server cpu`` sums the replicas' CPU time per request and ``db cpu``
PostgreSQL's (all its processes), both from /proc, to show where the two cores go. Each row is preceded by
its floor, ``GET /health`` of the same replicas driven the same way, and ends with the decisions' rate as a
fraction of the floor's and their p50, p99 and CPU per request as multiples of the floor's.
"""

from __future__ import annotations

import os
import sys

# benchmarks/http.py would shadow the standard library's `http` (which httpx imports) while this folder is
# first on the import path: move it last. The repository root goes first for the tests' replica launcher.
HERE = os.path.dirname(os.path.abspath(__file__))
if sys.path and os.path.abspath(sys.path[0]) == HERE:
    sys.path.append(sys.path.pop(0))
sys.path.insert(0, os.path.dirname(HERE))

import argparse
import asyncio
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

from loadgen import (
    FLOOR_PATH,
    OF_FLOOR_HEADER,
    Result,
    allowed,
    cpu_seconds,
    drive,
    measure,
    of_floor,
    org_policy,
)
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from tests.replicas.servers import replicas  # the same launcher the replica tests use

CONNECTIONS = 64
UNLIMITED = {"DEFAULT_CPU_HOURS": "1e12", "DEFAULT_GPU_HOURS": "1e12", "MAX_CONCURRENT_JOBS": "1000000"}


def body_for(i: int) -> dict[str, object]:
    return {"user_id": f"load{i % 997}", "partition": "cpu", "cpus": 4, "walltime_hours": 1, "reserve": True}


def pids_of(name: str) -> list[int]:
    found = subprocess.run(["pgrep", "-f", "--", name], capture_output=True, text=True, check=False).stdout.split()
    return [int(p) for p in found]


def fresh_database(url: str, name: str) -> str:
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        if admin.dialect.name == "postgresql":
            conn.execute(text(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"))
        conn.execute(text(f"DROP DATABASE IF EXISTS {name}"))
        conn.execute(text(f"CREATE DATABASE {name}"))
    admin.dispose()
    return make_url(url).set(database=name).render_as_string(hide_password=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicas", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--requests", type=int, default=10000)
    parser.add_argument("--rate", type=float, nargs="*", default=[1000.0])
    parser.add_argument("--database-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    parser.add_argument("--accounts", choices=["flat", "org"], default="flat")
    args = parser.parse_args()
    print(
        f"POST /v1/decisions reserve=true, {CONNECTIONS} connections, {args.requests} requests per row, "
        f"accounts {args.accounts}"
    )
    columns = ("requests/s", "p50 ms", "p99 ms", "server cpu ms", "db cpu ms")
    print(f"each row follows its floor: GET {FLOOR_PATH} of the same replicas, same connections and rate")
    header = " ".join(f"{c:>{max(8, len(c))}}" for c in columns)
    print(f"{'replicas':>8} {'mode':<23} {header}   {OF_FLOOR_HEADER}")
    for count in args.replicas:
        url = fresh_database(args.database_url, "hpcpolicy_load")
        with (
            tempfile.TemporaryDirectory() as tmp,
            replicas(count, url, policy_file(Path(tmp), args.accounts), Path(tmp), **UNLIMITED) as urls,
        ):
            servers = [pid for u in urls for pid in pids_of(f"--port {u.rsplit(':', 1)[1]}")]
            asyncio.run(drive(urls, "/v1/decisions", body_for, total=1000, connections=CONNECTIONS))  # warm up
            database = pids_of("postgres: .* hpcpolicy_load")  # the backends serving this database, now pooled
            modes: list[tuple[str, float | None]] = [("closed loop", None)] + [
                (f"open {r:.0f}/s", r) for r in args.rate
            ]
            for label, rate in modes:

                def run(
                    path: str, method: str, check: Callable[[int, bytes], bool] | None, rate: float | None = rate
                ) -> Result:
                    return asyncio.run(drive(urls, path, body_for, total=args.requests, connections=CONNECTIONS,
                                             rate=rate, check=check, method=method))  # fmt: skip

                floor = measure(servers, lambda: run(FLOOR_PATH, "GET", None))
                before = cpu_seconds(database)
                decided = measure(servers, lambda: run("/v1/decisions", "POST", allowed))
                db_ms = (cpu_seconds(database) - before) / args.requests * 1000
                for name, m, db in ((f"{label}: floor", floor, "-"), (label, decided, f"{db_ms:.2f}")):
                    r = m.result
                    failed = f"  ({r.failures} failed)" if r.failures else ""
                    print(
                        f"{count:>8} {name:<23} {r.rate:>11.0f} {r.percentile(0.5):>8.2f} {r.percentile(0.99):>8.2f} "
                        f"{m.cpu_ms or 0:>13.2f} {db:>9}   {of_floor(m, floor)}{failed}"
                    )


def policy_file(directory: Path, accounts: str) -> Path:
    """The packaged example policy (its default user quota is lifted by the environment above), or the
    users in one org (``accounts`` ``org``)."""
    from hpcpolicy.policy import example_policy_path

    target = directory / "policy.yaml"
    target.write_text(org_policy("load", 997) if accounts == "org" else example_policy_path().read_text())
    return target


if __name__ == "__main__":
    main()
