"""``hpcpolicy audit verify`` throughput: sealed events checked per second on SQLite (and, with
``--database-url``, on a server database), the whole chain walked as the command walks it.

Fills a ledger with N realistic decision events through the ledger session (as the service writes them),
seals them, then times :func:`hpcpolicy.ledger.sql.verify.verify` (read a page; per event, hash the stored
body, link it, check its columns against it) in one process and on every core, as the command runs it.
Target: 100,000 events/s.

    python benchmarks/audit_verify.py [--events 200000] [--database-url postgresql+psycopg://...]
"""

from __future__ import annotations

import os
import sys

sys.path.remove(os.path.dirname(os.path.abspath(__file__)))  # benchmarks/http.py would shadow the stdlib's http
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import argparse
import tempfile
import time
from pathlib import Path

from hpcpolicy.ledger.sql.connect import create_ledger_engine
from hpcpolicy.ledger.sql.ledger import SqlLedger
from hpcpolicy.ledger.sql.migrate import upgrade
from hpcpolicy.ledger.sql.verify import verify
from tests.dbservers import truncate
from tests.delivery.events import fill
from tests.ledger.conftest import sqlite_ledger


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--database-url", help="a server database to use instead of a SQLite file (truncated!)")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if args.database_url:
            engine = create_ledger_engine(args.database_url)
            upgrade(engine)
            truncate(engine)
        else:
            engine = sqlite_ledger(Path(tmp)).engine
        ledger = SqlLedger(engine, audit=True)
        started = time.perf_counter()
        fill(ledger, args.events)
        seconds = time.perf_counter() - started
        print(f"{args.events:,} events written and sealed in {seconds:.1f} s ({engine.dialect.name})")
        for _ in range(args.runs):
            for workers in (1, os.cpu_count() or 1):  # one process; as hpcpolicy audit verify runs (every core)
                started = time.perf_counter()
                checked, found = verify(ledger, workers=workers)
                seconds = time.perf_counter() - started
                assert found is None and checked == args.events, (checked, found)
                print(f"verify, {workers} process(es): {checked:,} events in {seconds:.2f} s = "
                      f"{checked / seconds:,.0f} events/s (target 100,000)")


if __name__ == "__main__":
    main()
