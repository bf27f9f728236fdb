"""How long the plugin's decision takes after the service sat idle, as between two ``sbatch`` commands.

``sbatch.py`` measures what job_submit.lua adds to ``sbatch``; between two submissions the service waits
several milliseconds for the next. This script asks the same service (started as ``sbatch.py`` starts it:
SQLite, the Slurm test policy, a controller key) the plugin's own request,
``POST /v1/adapters/slurm/job_submit`` with the body job_submit.lua sends for ``sbatch --hold --wrap true``,
over one kept connection as the plugin does (``loadgen.Connection``), each request after a pause of
``--gaps`` milliseconds (the client spins through the pause, so only the service idles). ``GET /health``
is timed the same way as the floor: what any request pays after the same pause.

    python benchmarks/idle.py [--requests 200] [--gaps 0 1 2 4 8 30] [--rounds 2]

On the virtual machines this project is built on, a request after 8–30 ms of idling took two to three
times as long as back to back (2026-12-02: the plugin's request 1.3–3.1 ms against 0.7–1.3, ``/health``
0.4–1.2 ms against 0.15–0.28), and pinning the service to one core changed nothing: the interpreter's code
and data are out of the caches by then. That share of ``sbatch.py``'s figure varies from machine to machine
and is not work the service does.
"""

from __future__ import annotations

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
if sys.path and os.path.abspath(sys.path[0]) == HERE:  # http.py here would shadow the standard library's
    sys.path.append(sys.path.pop(0))
sys.path.insert(0, os.path.dirname(HERE))

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path

from loadgen import Connection
from sbatch import percentile, start_service

from tests.slurm.test_jobdesc import SUBMITTED

#: What job_submit.lua sends for ``sbatch --hold -p cpu -t 10 --wrap true`` as root.
JOB = SUBMITTED["--wrap true --hold"] | {"user_id": 0, "user_name": "root", "group_id": 0, "partition": "cpu",
                                         "time_limit": 10}  # fmt: skip


def spin(milliseconds: float) -> None:
    until = time.perf_counter() + milliseconds / 1000
    while time.perf_counter() < until:
        pass


async def timed(conn: Connection, method: str, path: str, body: bytes) -> float:
    """Milliseconds from sending the request to the last byte of its 200 answer."""
    started = time.perf_counter()
    status, payload = await conn.request(method, path, body)
    elapsed = (time.perf_counter() - started) * 1000
    if status != 200:
        raise SystemExit(f"{method} {path}: HTTP {status} {payload[:500]!r}")
    return elapsed


async def measure(url: str, key: str, args: argparse.Namespace) -> None:
    conn = Connection(url, {"X-API-Key": key})
    submit = ("POST", "/v1/adapters/slurm/job_submit", json.dumps({"job": JOB, "cluster": "testcluster"}).encode())
    for _ in range(50):  # warm up: the first decisions open the ledger's connections
        await timed(conn, *submit)
    print(f"one kept connection, {args.requests} requests per row, milliseconds; the client spins in the gap")
    print(f"{'gap ms':>6} {'request':<10} {'mean':>6} {'p50':>6} {'p95':>6}")
    for _ in range(args.rounds):
        for gap in args.gaps:
            for name, request in (("floor", ("GET", "/health", b"")), ("submit", submit)):
                times = []
                for _ in range(args.requests):
                    spin(gap)  # on the loop itself: nothing else runs in this process meanwhile
                    times.append(await timed(conn, *request))
                p50, p95 = percentile(times, 0.5), percentile(times, 0.95)
                print(f"{gap:>6g} {name:<10} {sum(times) / len(times):6.2f} {p50:6.2f} {p95:6.2f}")
    await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--gaps", type=float, nargs="+", default=[0, 1, 2, 4, 8, 30])
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        proc, url, key_file = start_service(Path(tmp))
        try:
            asyncio.run(measure(url, key_file.read_text().strip(), args))
        finally:
            proc.terminate()
            proc.wait(timeout=10)


if __name__ == "__main__":
    main()
