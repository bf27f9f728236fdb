"""HTTP decision service throughput and latency: ``POST /v1/decisions`` with ``reserve: true``.

Starts ``hpcpolicy serve`` (one uvicorn worker, dev mode, SQLite in a temporary directory, the example
policy with a large default user quota) unless ``--url`` points at a running server, then drives it from
this process with asyncio + httpx at each concurrency level. Every request reserves (a lien row and a
decision row per request). Users are spread over many ids so no budget runs dry.

    python benchmarks/http.py [--requests 3000] [--concurrency 1 32] [--url http://127.0.0.1:8003]

Client and server share the machine's cores, so the figures are a floor for a dedicated server.
"""

from __future__ import annotations

import os
import sys

# This file is named http.py (as the issue asks); run as a script, its folder would shadow the standard
# library's `http` package that httpx imports. Drop the folder from the import path first.
if sys.path and os.path.abspath(sys.path[0]) == os.path.dirname(os.path.abspath(__file__)):
    sys.path.pop(0)

import argparse
import asyncio
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(data_dir: Path, port: int, extra_env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    env = os.environ | {"DEFAULT_CPU_HOURS": "1e12", "DEFAULT_GPU_HOURS": "1e12", "MAX_CONCURRENT_JOBS": "1000000"}
    env |= extra_env or {}
    cmd = [sys.executable, "-m", "hpcpolicy.cli.main", "serve", "--port", str(port), "--data-dir", str(data_dir)]
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


async def run(url: str, total: int, concurrency: int, headers: dict[str, str]) -> tuple[float, list[float], int]:
    latencies: list[float] = []
    failures = 0
    counter = iter(range(total))
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)

    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30, headers=headers) as client:

        async def worker() -> None:
            nonlocal failures
            for i in counter:
                body = {
                    "user_id": f"bench{i % 997}",
                    "cpus": 4,
                    "walltime_hours": 1,
                    "partition": "cpu",
                    "reserve": True,
                }
                t0 = time.perf_counter()
                response = await client.post("/v1/decisions", json=body)
                latencies.append(time.perf_counter() - t0)
                if response.status_code != 200 or not response.json()["allow"]:
                    failures += 1

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - start
    return elapsed, latencies, failures


def report(concurrency: int, total: int, elapsed: float, latencies: list[float], failures: int) -> None:
    latencies.sort()
    p50 = latencies[len(latencies) // 2] * 1000
    p99 = latencies[int(len(latencies) * 0.99)] * 1000
    print(f"{concurrency:>11} {total:>9} {total / elapsed:>11.0f} {p50:>8.2f} {p99:>8.2f} {failures:>9}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 32])
    parser.add_argument("--url", help="benchmark a running server instead of starting one")
    parser.add_argument("--api-key", help="X-API-Key for a server with authentication")
    args = parser.parse_args()
    headers = {"X-API-Key": args.api_key} if args.api_key else {}
    with tempfile.TemporaryDirectory() as tmp:
        proc = None
        url = args.url
        if url is None:
            port = free_port()
            proc = start_server(Path(tmp), port)
            url = f"http://127.0.0.1:{port}"
        try:
            asyncio.run(run(url, 200, 4, headers))  # warm up
            print(f"POST /v1/decisions reserve=true against {url} (SQLite, 1 worker)")
            print(
                f"{'concurrency':>11} {'requests':>9} {'decisions/s':>11} {'p50 ms':>8} {'p99 ms':>8} {'failures':>9}"
            )
            for c in args.concurrency:
                report(c, args.requests, *asyncio.run(run(url, args.requests, c, headers)))
        finally:
            if proc is not None:
                proc.terminate()
                proc.wait(timeout=10)


if __name__ == "__main__":
    main()
