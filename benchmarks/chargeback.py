"""The chargeback report of a month with 1,000,000 charges, on SQLite and on PostgreSQL, end to end:
the ledger's GROUP BY, shaping into org → team → project → user, and the JSON (target ≤ 5 s each).

Bulk-loads ``--charges`` charges dated in October 2026 and as many in November (so the date filter has
work to do) into a fresh SQLite file and a fresh PostgreSQL database (created on the server of
``--database-url`` and dropped afterwards), over realistic dimensions: 20 orgs, 200 teams, 2,000
projects, 10,000 users each in one to three projects, three GPU types on 40 % of the jobs (a fifth of
them weighted, so ``raw_*_hours`` is set), and 5,000 adjustments on every kind of scope. SQLite is loaded
with ``executemany``, PostgreSQL with ``COPY``, both into the migrated schema (its indexes included).

``--months 12`` loads a year of history (the month a twelfth of the table) instead of two months.

Then times the report of October (median of ``--runs``): read (the two grouped statements), shape,
JSON; CSV and HTML are timed too, for information. ``--index`` adds a run with a temporary index on
``charges.at`` (the schema has none): what a migration adding one would change.

    python benchmarks/chargeback.py [--charges 1000000] [--months 2] [--runs 3] [--backends sqlite postgresql]
                                    [--index]
"""

from __future__ import annotations

import os
import sys

sys.path.remove(os.path.dirname(os.path.abspath(__file__)))  # benchmarks/http.py would shadow the stdlib's http

import argparse
import random
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, func, select, text
from sqlalchemy.engine import make_url

from hpcpolicy.ledger.sql.connect import create_ledger_engine
from hpcpolicy.ledger.sql.ledger import SqlLedger
from hpcpolicy.ledger.sql.migrate import upgrade
from hpcpolicy.ledger.sql.rows import to_db
from hpcpolicy.ledger.sql.tables import adjustments, charges
from hpcpolicy.reports import Placement, chargeback, month
from hpcpolicy.reports.formats import to_csv, to_html, to_json

ORGS, TEAMS, PROJECTS, USERS = 20, 200, 2_000, 10_000
GPU_TYPES = ("a100", "h100", "l40s")
OCTOBER, NOVEMBER = datetime(2026, 10, 1), datetime(2026, 11, 1)
COLUMNS = ("id", "user_id", "project", "team", "org", "cluster", "partition", "cpu_hours", "gpu_hours", "cost",
           "at", "source", "gpu_type", "raw_cpu_hours", "raw_gpu_hours")  # fmt: skip
ADJUSTMENTS = 5_000


def placement() -> Placement:
    teams = {f"team{t}": f"org{t % ORGS}" for t in range(TEAMS)}
    return Placement({f"proj{p}": (f"team{p % TEAMS}", f"org{p % TEAMS % ORGS}") for p in range(PROJECTS)}, teams)


def charge_rows(count: int, months: int = 2, seed: int = 7) -> Iterator[tuple[Any, ...]]:
    """``count`` charges in October and as many in each of the ``months - 1`` months after it, in no
    particular order of date."""
    rng = random.Random(seed)
    memberships = [[rng.randrange(PROJECTS) for _ in range(rng.randint(1, 3))] for _ in range(USERS)]
    starts = [datetime(2026 + (9 + k) // 12, (9 + k) % 12 + 1, 1) for k in range(months)]
    for i in range(months * count):
        start = starts[i % months]
        user = rng.randrange(USERS)
        project = rng.choice(memberships[user])
        team = project % TEAMS
        at = start + timedelta(seconds=rng.randrange(30 * 86400), microseconds=rng.randrange(1_000_000))
        hours = rng.expovariate(1 / 6)
        cpus = rng.choice((1, 4, 16, 64))
        gpu_type = rng.choice(GPU_TYPES) if rng.random() < 0.4 else None
        gpus = rng.choice((1, 2, 4, 8)) if gpu_type else 0
        weighted = gpu_type is not None and rng.random() < 0.2
        w = 2.0 if weighted else 1.0
        cpu_h, gpu_h = cpus * hours, gpus * hours
        yield (f"c{i:035d}", f"user{user}", f"proj{project}", f"team{team}", f"org{team % ORGS}", "helix",
               "gpu" if gpu_type else "cpu", cpu_h * w, gpu_h * w, cpu_h * 0.01 + gpu_h * 1.5, at, "sync", gpu_type,
               cpu_h if weighted else None, gpu_h if weighted else None)  # fmt: skip


def adjustment_rows(seed: int = 11) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    scopes = (lambda: f"org:org{rng.randrange(ORGS)}", lambda: f"team:team{rng.randrange(TEAMS)}",
              lambda: f"project:proj{rng.randrange(PROJECTS)}", lambda: f"user:user{rng.randrange(USERS)}",
              lambda: f"project:proj{rng.randrange(PROJECTS)}/user:user{rng.randrange(USERS)}")  # fmt: skip
    return [{"id": f"a{i:035d}", "scope": rng.choice(scopes)(), "kind": rng.choice(("grant", "refund", "debit")),
             "cpu_hours": rng.uniform(0, 100), "gpu_hours": rng.uniform(0, 10), "cost": rng.uniform(0, 500),
             "reason": "benchmark", "author": "dev",
             "at": (OCTOBER if i % 2 else NOVEMBER) + timedelta(seconds=rng.randrange(30 * 86400))}
            for i in range(ADJUSTMENTS)]  # fmt: skip


def load_sqlite(engine: Engine, rows: Iterator[tuple[Any, ...]]) -> None:
    insert = f"INSERT INTO charges ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"
    stored = "%Y-%m-%d %H:%M:%S.%f"  # as SQLAlchemy stores a DateTime on SQLite: the filter compares text
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute("BEGIN")
        cursor.executemany(insert, ((*r[:10], r[10].strftime(stored), *r[11:]) for r in rows))
        cursor.execute("COMMIT")
    finally:
        raw.close()


def load_postgresql(engine: Engine, rows: Iterator[tuple[Any, ...]]) -> None:
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        with cursor.copy(f"COPY charges ({', '.join(COLUMNS)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        raw.commit()
        cursor.execute("ANALYZE charges")
        raw.commit()
    finally:
        raw.close()


def load_adjustments(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(adjustments.insert(), adjustment_rows())


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


def measure(ledger: SqlLedger, runs: int, label: str) -> None:
    period, where = month("2026-10"), placement()
    at = datetime(2026, 11, 2, tzinfo=UTC)
    reads, shapes, jsons, totals = [], [], [], []
    for _ in range(runs):
        read, sums = timed(lambda: ledger.period_sums(period.start, period.end))
        shape, report = timed(lambda: chargeback(period, sums, where))  # noqa: B023 - called at once
        encode, body = timed(lambda: to_json(report, at))  # noqa: B023
        reads.append(read)
        shapes.append(shape)
        jsons.append(encode)
        totals.append(read + shape + encode)
    csv_s, _ = timed(lambda: to_csv(report))
    html_s, _ = timed(lambda: to_html(report, at))
    users = sum(1 for o in report.orgs for t in o.children for p in t.children for _ in p.children)
    print(
        f"{label:<24} {statistics.median(totals):6.2f} s  (read {statistics.median(reads):.2f} s, shape "
        f"{statistics.median(shapes):.2f} s, JSON {statistics.median(jsons):.2f} s; median of {runs}) "
        f"{report.totals.charges:,} charges in {len(sums.charges):,} groups, {users:,} user rows, JSON "
        f"{len(body) / 1e6:.1f} MB; CSV {csv_s:.2f} s, HTML {html_s:.2f} s"
    )
    assert report.totals.charges == ledger_count(ledger, period.start, period.end)


def ledger_count(ledger: SqlLedger, start: datetime, end: datetime) -> int:
    query = select(func.count()).select_from(charges).where(charges.c.at >= to_db(start), charges.c.at < to_db(end))
    with ledger.engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


def with_index(ledger: SqlLedger, runs: int, label: str) -> None:
    with ledger.engine.begin() as conn:
        conn.execute(text("CREATE INDEX ix_bench_charges_at ON charges (at)"))
        if ledger.engine.dialect.name == "postgresql":
            conn.execute(text("ANALYZE charges"))
    measure(ledger, runs, f"{label} + index on at")


def run(engine: Engine, loader: Callable[[Engine, Any], None], args: argparse.Namespace, label: str) -> None:
    upgrade(engine)
    seconds, _ = timed(lambda: loader(engine, charge_rows(args.charges, args.months)))
    load_adjustments(engine)
    print(f"{label}: {args.months * args.charges:,} charges over {args.months} months loaded in {seconds:.0f} s")
    ledger = SqlLedger(engine)
    measure(ledger, args.runs, label)
    if args.index:
        with_index(ledger, args.runs, label)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--charges", type=int, default=1_000_000, help="charges in the month (as many in the next)")
    parser.add_argument("--months", type=int, default=2, help="months of charges, the reported one first (history)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--backends", nargs="+", default=["sqlite", "postgresql"], choices=["sqlite", "postgresql"])
    parser.add_argument("--database-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    parser.add_argument("--index", action="store_true", help="also time with a temporary index on charges.at")
    args = parser.parse_args()
    if "sqlite" in args.backends:
        with tempfile.TemporaryDirectory() as tmp:
            engine = create_ledger_engine(f"sqlite:///{Path(tmp) / 'ledger.db'}")
            run(engine, load_sqlite, args, "SQLite")
            engine.dispose()
    if "postgresql" in args.backends:
        name = f"hpcpolicy_bench_chargeback_{os.getpid()}"
        admin = create_engine(args.database_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f"CREATE DATABASE {name}"))
        try:
            engine = create_ledger_engine(make_url(args.database_url).set(database=name).render_as_string(False))
            run(engine, load_postgresql, args, "PostgreSQL")
            engine.dispose()
        finally:
            with admin.connect() as conn:
                conn.execute(text(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"))
                conn.execute(text(f"DROP DATABASE IF EXISTS {name}"))
            admin.dispose()


if __name__ == "__main__":
    main()
