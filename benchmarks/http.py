"""HTTP decision service throughput and latency: ``POST /v1/decisions`` with ``reserve: true``.

Starts ``hpcpolicy serve`` (one uvicorn worker, dev mode, SQLite in a temporary directory) unless ``--url``
points at a running server, then drives it from this process with asyncio + httpx at each concurrency level.
Every request reserves (a lien row and a decision row per request). Users are spread over many ids and the
budgets are large, so none runs dry. The policy (``--accounts``): by default the users are in one org's
projects (:func:`loadgen.org_policy`), so every lien is also the org's, as at a centre; ``flat`` is the example
policy, whose default quota gives each unlisted user a path of one scope.

    python benchmarks/http.py [--requests 5000] [--concurrency 1 32] [--rate 500] [--accounts org|flat] [--no-checks]
    python benchmarks/http.py --url http://127.0.0.1:8003 [--api-key KEY]
    python benchmarks/http.py --audit-cost [--rounds 3]   # audit log off vs on, alternating, same run

Read-only checks (``POST /quota/check``: the same balances read, nothing written) are timed after the
decisions, closed loop at each concurrency. Closed loop finds the throughput; open loop at a fixed rate over
32 connections gives the latency at that load (see loadgen.py). ``cpu ms`` is the server's CPU time per
request, read from /proc, which stays meaningful when the client and other work share the machine's two
cores. Each row is preceded by its floor: ``GET /health`` of the same server driven the same way; the last
four columns give the decisions' rate as a fraction of the floor's, and their p50, p99 and CPU per request as
multiples of the floor's.
"""

from __future__ import annotations

import os
import sys

# This file is named http.py (as the issue asks); run as a script, its folder would shadow the standard
# library's `http` package that httpx imports. Drop the folder from the import path first.
if sys.path and os.path.abspath(sys.path[0]) == os.path.dirname(os.path.abspath(__file__)):
    sys.path.append(sys.path.pop(0))  # still find loadgen.py beside this file, after the standard library

import argparse
import asyncio
import socket
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx
from loadgen import FLOOR_PATH, OF_FLOOR_HEADER, Measured, Result, allowed, drive, measure, of_floor, org_policy


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


USERS = 997


def start_server(
    data_dir: Path, port: int, extra_env: dict[str, str] | None = None, accounts: str = "flat"
) -> subprocess.Popen[bytes]:
    """``accounts``: ``flat`` (the example policy, its default quota for users it does not list) or ``org``
    (:func:`loadgen.org_policy`)."""
    env = os.environ | {"DEFAULT_CPU_HOURS": "1e12", "DEFAULT_GPU_HOURS": "1e12", "MAX_CONCURRENT_JOBS": "1000000"}
    env |= extra_env or {}
    cmd = [sys.executable, "-m", "hpcpolicy.cli.main", "serve", "--port", str(port), "--data-dir", str(data_dir)]
    if accounts == "org":
        policy = data_dir / "org-policy.yaml"
        policy.write_text(org_policy("bench", USERS))
        cmd += ["--policy", str(policy)]
    proc = subprocess.Popen([*cmd, "--log-level", "warning"], env=env, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/ready", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("server did not become ready in 30 s")


#: The read-only check: side-effect free (no lien, no decision record, no audit event), the same balances
#: read as for a decision (:func:`check_body_for`).
CHECK_PATH = "/quota/check"


def check_body_for(i: int) -> dict[str, object]:
    return {"user_id": f"bench{i % USERS}", "cpu_hours": 4, "partition": "cpu"}


def body_for(i: int) -> dict[str, object]:
    return {"user_id": f"bench{i % USERS}", "cpus": 4, "walltime_hours": 1, "partition": "cpu", "reserve": True}


def report(label: str, run: Measured, floor: Measured) -> None:
    r = run.result
    cpu = f"{run.cpu_ms:>8.2f}" if run.cpu_ms is not None else f"{'-':>8}"
    print(
        f"{label:<32} {r.requests:>8} {r.rate:>11.0f} {r.percentile(0.5):>8.2f} {r.percentile(0.99):>8.2f} {cpu} "
        f"{r.failures:>8}   {of_floor(run, floor)}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 32])
    parser.add_argument("--rate", type=float, nargs="*", default=[500.0], help="open-loop rates at 32 connections")
    parser.add_argument("--url", help="benchmark a running server instead of starting one")
    parser.add_argument("--api-key", help="X-API-Key for a server with authentication")
    parser.add_argument("--audit", choices=["on", "off"], default="on", help="the audit log of the server started")
    parser.add_argument("--accounts", choices=["org", "flat"], default="org",
                        help="users in one org's projects (every lien is the org's), or unlisted users with a "
                             "default quota each")  # fmt: skip
    parser.add_argument("--checks", action=argparse.BooleanOptionalAction, default=True,
                        help=f"also time read-only checks (POST {CHECK_PATH}) at each concurrency")  # fmt: skip
    parser.add_argument(
        "--audit-cost", action="store_true", help="closed loop with the audit log off and on, in turn: its cost"
    )
    parser.add_argument("--rounds", type=int, default=3, help="off/on pairs for --audit-cost")
    args = parser.parse_args()
    if args.audit_cost:
        audit_cost(args)
        return
    headers = {"X-API-Key": args.api_key} if args.api_key else {}
    with tempfile.TemporaryDirectory() as tmp:
        proc = None
        url = args.url
        if url is None:
            port = free_port()
            proc = start_server(Path(tmp), port, {"HPCPOLICY_AUDIT_LOG": str(args.audit == "on").lower()},
                                args.accounts)  # fmt: skip
            url = f"http://127.0.0.1:{port}"

        pids = [proc.pid] if proc else []

        def row(label: str, connections: int, rate: float | None, path: str = "/v1/decisions") -> None:
            body = check_body_for if path == CHECK_PATH else body_for

            def run(path: str, method: str, check: Callable[[int, bytes], bool] | None) -> Result:
                return asyncio.run(drive([url], path, body, total=args.requests, connections=connections,
                                         rate=rate, headers=headers, check=check, method=method))  # fmt: skip

            floor = measure(pids, lambda: run(FLOOR_PATH, "GET", None))
            report(f"{label}: floor", floor, floor)
            report(label, measure(pids, lambda: run(path, "POST", allowed)), floor)

        try:
            asyncio.run(drive([url], "/v1/decisions", body_for, total=300, connections=4, headers=headers))  # warm up
            print(
                f"POST /v1/decisions reserve=true against {url} (SQLite, 1 worker, audit log {args.audit}, "
                f"accounts {args.accounts})"
            )
            print(f"each row follows its floor: GET {FLOOR_PATH} of the same server, same connections and rate")
            print(
                f"{'mode':<32} {'requests':>8} {'requests/s':>11} {'p50 ms':>8} {'p99 ms':>8} {'cpu ms':>8} "
                f"{'failures':>8}   {OF_FLOOR_HEADER}"
            )
            for c in args.concurrency:
                row(f"closed loop, {c} client{'s' if c > 1 else ''}", c, None)
            for c in args.concurrency if args.checks else ():
                row(f"check, closed, {c} client{'s' if c > 1 else ''}", c, None, CHECK_PATH)
            for r in args.rate:
                row(f"open loop {r:.0f}/s, 32 conn", 32, r)
        finally:
            if proc is not None:
                proc.terminate()
                proc.wait(timeout=10)


def audit_cost(args: argparse.Namespace) -> None:
    """Closed-loop decisions/s with the audit log off and on: a fresh server each time, off and on in turn
    (the machine's drift hits both alike), medians per mode and concurrency, and the cost in percent."""
    rates: dict[tuple[str, int], list[float]] = {}
    print(f"audit log cost: POST /v1/decisions reserve=true, SQLite, 1 worker, {args.requests} requests per run")
    for _ in range(args.rounds):
        for mode in ("off", "on"):
            with tempfile.TemporaryDirectory() as tmp:
                port = free_port()
                proc = start_server(Path(tmp), port, {"HPCPOLICY_AUDIT_LOG": str(mode == "on").lower()}, args.accounts)
                url = f"http://127.0.0.1:{port}"
                try:
                    asyncio.run(drive([url], "/v1/decisions", body_for, total=300, connections=4))  # warm up
                    for c in args.concurrency:
                        result = asyncio.run(drive([url], "/v1/decisions", body_for, total=args.requests,
                                                   connections=c, check=allowed))  # fmt: skip
                        rates.setdefault((mode, c), []).append(result.rate)
                        print(f"  audit {mode:<3} {c:>3} client(s): {result.rate:>6.0f} decisions/s")
                finally:
                    proc.terminate()
                    proc.wait(timeout=10)
    for c in args.concurrency:
        off, on = statistics.median(rates[("off", c)]), statistics.median(rates[("on", c)])
        cost = (1 - on / off) * 100
        print(f"{c:>3} client(s): median off {off:.0f}/s, on {on:.0f}/s: the audit log costs {cost:.1f} %")


if __name__ == "__main__":
    main()
