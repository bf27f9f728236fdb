"""A lean HTTP/1.1 load generator for the benchmarks: keep-alive connections over asyncio streams.

Why not httpx: on a 2-core machine the client shares the CPU with the server, and httpx spends about as
much CPU per request as the service does, so it measures itself. This client pre-builds request bytes
and parses only the status line and ``Content-Length``, a few microseconds per request.

Two modes:
- closed loop (``rate=None``): each connection sends its next request when the last answer arrives;
  this finds the maximum throughput, and its latency is bounded by Little's law (latency = clients /
  throughput), so at 32 clients a p99 of 10 ms would need more than 3,200 requests/s.
- open loop (``rate=R``): requests are scheduled at a fixed rate R spread over the connections, and
  latency is measured from the *scheduled* send time, so queueing delay is counted (no coordinated
  omission). This answers "at R decisions/s, what is p99?".
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

BodyFactory = Callable[[int], dict[str, object]]


@dataclass
class Result:
    requests: int = 0
    failures: int = 0
    elapsed: float = 0.0
    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.requests / self.elapsed if self.elapsed else 0.0

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(len(ordered) * q))] * 1000 if ordered else float("nan")


class Connection:
    """One keep-alive HTTP/1.1 connection; requests on it are sequential."""

    def __init__(self, url: str, headers: dict[str, str]):
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.headers = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, method: str, path: str, body: bytes) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: {self.host}\r\n{self.headers}"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        self.writer.write(head.encode() + body)
        status_line = await self.reader.readline()
        if not status_line:
            await self.close()
            raise ConnectionError("server closed the connection")
        status = int(status_line.split()[1])
        length = 0
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            if name.lower() == b"content-length":
                length = int(value)
        payload = await self.reader.readexactly(length) if length else b""
        return status, payload

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


async def drive(
    urls: Sequence[str],
    path: str,
    body_for: BodyFactory,
    *,
    total: int,
    connections: int,
    rate: float | None = None,
    headers: dict[str, str] | None = None,
    check: Callable[[int, bytes], bool] | None = None,
    method: str = "POST",
) -> Result:
    """Send ``total`` requests (POSTs of ``body_for(i)``; with ``method="GET"`` no body) over ``connections``
    connections spread round-robin over ``urls``."""
    result = Result()
    conns = [Connection(urls[i % len(urls)], headers or {}) for i in range(connections)]
    counter = itertools.count()
    ok = check or (lambda status, _: 200 <= status < 300)
    start = time.perf_counter()

    async def worker(conn: Connection) -> None:
        while (i := next(counter)) < total:
            scheduled = start + i / rate if rate else None
            if scheduled is not None:
                delay = scheduled - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
            sent = time.perf_counter()
            try:
                body = json.dumps(body_for(i)).encode() if method != "GET" else b""
                status, payload = await conn.request(method, path, body)
            except (ConnectionError, OSError, asyncio.IncompleteReadError):
                status, payload = 599, b""
            done = time.perf_counter()
            result.latencies.append(done - (scheduled if scheduled is not None else sent))
            result.statuses[status] = result.statuses.get(status, 0) + 1
            if not ok(status, payload):
                result.failures += 1

    await asyncio.gather(*(worker(c) for c in conns))
    result.elapsed = time.perf_counter() - start
    result.requests = total
    for conn in conns:
        await conn.close()
    return result


#: The floor every figure is divided by: a trivial endpoint of the same server (no body, no ledger, no
#: authentication), driven in the same run with the same connections and rate. The machine's speed drifts
#: from hour to hour (±25 % here); the fractions of this floor drift much less than the raw figures.
FLOOR_PATH = "/health"


@dataclass
class Measured:
    """A run and the server CPU it cost per request (None when the server is not ours to watch)."""

    result: Result
    cpu_ms: float | None


def measure(pids: list[int], run: Callable[[], Result]) -> Measured:
    before = cpu_seconds(pids) if pids else None
    result = run()
    used = cpu_seconds(pids) - before if before is not None else None
    return Measured(result, used / result.requests * 1000 if used is not None else None)


def of_floor(run: Measured, floor: Measured) -> str:
    """The run as a fraction of the floor: its throughput, and how many times the floor's p50, p99 and CPU
    per request it took."""
    r, f = run.result, floor.result
    cpu = f"{run.cpu_ms / floor.cpu_ms:>6.1f}x" if run.cpu_ms and floor.cpu_ms else f"{'-':>7}"
    return (f"{r.rate / f.rate:>7.3f} {r.percentile(0.5) / f.percentile(0.5):>6.1f}x "
            f"{r.percentile(0.99) / f.percentile(0.99):>6.1f}x {cpu}")  # fmt: skip


OF_FLOOR_HEADER = f"{'/floor':>7} {'p50':>7} {'p99':>7} {'cpu':>7}"


def allowed(status: int, payload: bytes) -> bool:
    """A 200 whose decision is an allow (the benchmarks size budgets so every request fits)."""
    return status == 200 and b'"allow":true' in payload.replace(b" ", b"")


def cpu_seconds(pids: list[int], *, children: bool = False) -> float:
    """User + system CPU seconds of these processes so far, from /proc (Linux); gone processes count 0.
    ``children``: with their children that have exited and been waited for (a server's finished workers)."""
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        used = fields[11:15] if children else fields[11:13]
        total += sum(int(f) for f in used) / os.sysconf("SC_CLK_TCK")
    return total


def org_policy(prefix: str, users: int) -> str:
    """``users`` users ``<prefix><n>`` in an account tree, as at a centre: one org of 10 teams, 100
    projects, each user in one project, a budget at every level (large: no request is refused for want of
    one). Every reservation is then an open lien of its org (a balance that summed the org's open liens
    slowed down with each request), and on a database server every admission locks the org's scope."""
    budget = "quotas: [{window: monthly, cpu_hours: 1e12, gpu_hours: 1e12, cost: 1e12}]"
    lines = ["apiVersion: hpcpolicy/v2", "defaults:", "  user_quota: {cpu_hours: 1e12, window: monthly}",
             "clusters:", "  helix:", "    scheduler: slurm", "    partitions:",
             "      cpu: {nodes: {count: 500, cpus: 64, memory_gb: 256}, rates: {cpu_hour: 0.01}}",
             "orgs:", "  bench:", f"    {budget}", "    teams:"]  # fmt: skip
    for team in range(10):
        lines += [f"      t{team}:", f"        {budget}", "        projects:"]
        lines += [f"          p{project}: {{{budget}}}" for project in range(team * 10, team * 10 + 10)]
    lines.append("users:")
    lines += [f"  {prefix}{user}: {{projects: [p{user % 100}]}}" for user in range(users)]
    return "\n".join(lines) + "\n"
