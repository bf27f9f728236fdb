"""The application's own CPU per request, without HTTP: the ASGI app driven in this process.

``http.py`` measures what a client sees, but on a 2-core machine the client, uvicorn's parsing and the
kernel share the CPU with the app, and their noise hides a 5 % change. This script builds the app as
``hpcpolicy serve`` does (SQLite in a temporary directory, dev mode, the org policy of ``loadgen.py``, its
lifespan running: checkpoints, sealing, the dispatcher), then calls it as an ASGI app from ``--clients``
asyncio tasks, and prints each route's rate and process CPU per request (all threads, from
``time.process_time``), beside the floor ``GET /health``. ``--profile FILE`` writes cProfile stats of the
runs of one route (``--profiled``, the decisions by default; read them with ``python -m pstats FILE``).

    python benchmarks/inprocess.py [--requests 6000] [--clients 16] [--rounds 3]
                                   [--profile decisions.prof [--profiled /quota/check]]

Use it to decide whether a change to the request path pays; use http.py for the figures README reports.
"""

from __future__ import annotations

import sys

# benchmarks/http.py sits beside this file: drop the folder from the import path so that it does not shadow
# the standard library's `http` package (loadgen.py is still found, after the standard library).
sys.path.append(sys.path.pop(0))

import argparse
import asyncio
import cProfile
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from loadgen import org_policy

USERS = 997
Body = Callable[[int], dict[str, object]]


def build(data_dir: Path) -> Any:
    """The app of ``hpcpolicy serve`` (dev mode, audit log on) over a fresh SQLite ledger in ``data_dir``."""
    os.environ |= {"DEFAULT_CPU_HOURS": "1e12", "DEFAULT_GPU_HOURS": "1e12", "MAX_CONCURRENT_JOBS": "1000000"}
    from hpcpolicy.api import create_app
    from hpcpolicy.auth import Authenticator, AuthSettings
    from hpcpolicy.cli.service_cmds import governance_from, settings_from

    policy = data_dir / "org-policy.yaml"
    policy.write_text(org_policy("bench", USERS))
    settings = settings_from(data_dir=data_dir, policy=policy)
    authenticator = Authenticator(AuthSettings(), data_dir=settings.data_dir, loopback=True)
    return create_app(governance_from(settings), authenticator, request_timeout=settings.request_timeout_seconds)


async def call(app: Any, method: str, path: str, body: bytes) -> tuple[int, bytes]:
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "scheme": "http",
        "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
        "headers": [(b"host", b"bench"), (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode())],
        "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8003),
    }  # fmt: skip
    sent = False
    status, chunks = 0, []

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            await asyncio.sleep(3600)  # a client that keeps the connection open
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    return status, b"".join(chunks)


async def drive(app: Any, method: str, path: str, body: Body | None, total: int, clients: int) -> tuple[float, float]:
    """``total`` requests from ``clients`` tasks; (requests/s, CPU ms per request); fails on a non-200."""
    bodies = [json.dumps(body(i)).encode() if body else b"" for i in range(total)]
    counter = iter(range(total))

    async def client() -> None:
        for i in counter:
            status, payload = await call(app, method, path, bodies[i])
            if status != 200 or (body is not None and b'"allow":false' in payload):
                raise SystemExit(f"{method} {path}: {status} {payload[:300]!r}")

    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return total / wall, cpu / total * 1000


def decision(i: int) -> dict[str, object]:
    return {"user_id": f"bench{i % USERS}", "cpus": 4, "walltime_hours": 1, "partition": "cpu", "reserve": True}


def check(i: int) -> dict[str, object]:
    return {"user_id": f"bench{i % USERS}", "cpu_hours": 4, "partition": "cpu"}


ROUTES: dict[str, tuple[str, str, Body | None]] = {
    "floor GET /health": ("GET", "/health", None),
    "POST /v1/decisions reserve": ("POST", "/v1/decisions", decision),
    "POST /quota/check": ("POST", "/quota/check", check),
}


async def run(args: argparse.Namespace, data_dir: Path) -> None:
    app = build(data_dir)
    figures: dict[str, list[tuple[float, float]]] = {name: [] for name in ROUTES}
    profiler = cProfile.Profile() if args.profile else None
    async with app.router.lifespan_context(app):
        await drive(app, "POST", "/v1/decisions", decision, 300, 4)  # warm up
        for _ in range(args.rounds):
            for name, (method, path, body) in ROUTES.items():
                profiling = profiler is not None and path == args.profiled
                if profiling:
                    profiler.enable()
                figures[name].append(await drive(app, method, path, body, args.requests, args.clients))
                if profiling:
                    profiler.disable()
    if profiler is not None:
        profiler.dump_stats(args.profile)
    print(f"in-process ASGI, SQLite, audit log on, org accounts, {args.clients} clients, "
          f"{args.requests} requests x {args.rounds} rounds (medians; CPU of all threads)")  # fmt: skip
    print(f"{'route':<30} {'requests/s':>11} {'cpu us/req':>11} {'cpu runs':>26}")
    for name, runs in figures.items():
        rate = statistics.median(r for r, _ in runs)
        cpu = statistics.median(c for _, c in runs)
        each = " ".join(f"{c * 1000:.0f}" for _, c in runs)
        print(f"{name:<30} {rate:>11.0f} {cpu * 1000:>11.0f} {each:>26}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=6000)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profile", help="write cProfile stats of the --profiled route's runs to this file")
    parser.add_argument("--profiled", default="/v1/decisions", choices=[p for _, p, _ in ROUTES.values()])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(run(args, Path(tmp)))


if __name__ == "__main__":
    main()
