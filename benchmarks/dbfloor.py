"""PostgreSQL's own floor for a reserved decision: what the database alone costs, with no service at all.

``load.py`` reports the database's CPU per decision beside the replicas'. This script asks how much of that
is the database's irreducible share, and so how much of the machine is left for the service at a given
rate. It creates a fresh database, migrates it with ``hpcpolicy db upgrade`` (the service's real tables and
indexes), and drives it with ``pgbench`` (a C client, prepared statements, 64 connections) running the
statements of one reserved decision of ``load.py``'s default (flat) accounts, as the ledger sends them:

- ``statements``: one statement per round trip, in one transaction: lock the user's scope row, read its
  balances, insert the lien, its running total, the decision and its two audit events, commit;
- ``function``: the same statements in one PL/pgSQL function, one round trip per decision (the shape a
  server-side reservation would take).

For each it prints decisions/s, the database's CPU per decision (all its processes, from /proc), and the
CPU per decision left over for everything else (service replicas, load client) at ``--target`` decisions/s
on this machine's cores: ``cores / target - db cpu``.

    python benchmarks/dbfloor.py [--seconds 10] [--rounds 2] [--target 1500] [--database-url URL]

Needs ``pgbench`` (Debian: postgresql-client). The statements mirror ``hpcpolicy.ledger.sql``'s (see the
database log with ``log_statement = all`` for the real ones); they are a mirror, not the code path.
"""

from __future__ import annotations

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
if sys.path and os.path.abspath(sys.path[0]) == HERE:  # http.py here would shadow the standard library's
    sys.path.append(sys.path.pop(0))
sys.path.insert(0, os.path.dirname(HERE))

import argparse
import re
import subprocess
import tempfile
import time
from pathlib import Path

from load import fresh_database
from loadgen import cpu_seconds
from sqlalchemy import create_engine, make_url, text

from tests.replicas.servers import clean_env, cli

USERS = 997
CLIENTS = 64

#: One reserved decision, ``{u}`` standing for the user's number. Literals carry no ':' (pgbench would
#: take ``:name`` for a variable): the JSON and scope texts spell it ``\072`` in E'' strings.
SCOPE = "(E'user\\072load' || {u})"
REQUEST = '{"user_id":"load1","roles":[],"groups":[],"project":null,"cluster":null,"partition":"cpu","cpus":4,' \
    '"gpus":0,"gpu_type":null,"memory_gb":0.0,"nodes":1,"walltime_hours":1.0,"cpu_hours":null,"gpu_hours":null,' \
    '"qos":null,"service":null}'  # fmt: skip
DECISION = '{"allow":true,"violations":[],"route":{"cluster":"helix","partition":"cpu","reason":"named"},' \
    '"estimate":{"cpu_hours":4.0,"gpu_hours":0.0,"cost":0.04},"balances":[{"scope":"user:load1",' \
    '"window":"month","cpu_hours_left":1e12,"gpu_hours_left":1e12,"cost_left":null}]}'  # fmt: skip
EVENT = '{"actor":null,"data":{"closed_at":null,"cluster":"helix","cost":0.04,"cpu_hours":4.0,"cpus":4,' \
    '"created_at":"2026-12-02T09:46:59.619607Z","decision_id":"b16634d4-cb7f-436f-9dd7-8cf6ce000eb5",' \
    '"ended_at":null,"expires_at":"2026-12-03T09:46:59.619607Z","gpu_hours":0.0,"gpu_type":null,"gpus":0,' \
    '"id":"b16634d4-cb7f-436f-9dd7-8cf6ce000eb5","memory_gb":0.0,"nodes":1,"partition":"cpu","project":null,' \
    '"state":"reserved","user_id":"load1","walltime_hours":1.0}}'  # fmt: skip


def literal(value: str) -> str:
    return "E'" + value.replace("'", "''").replace(":", "\\072") + "'"


def uuid() -> str:
    return "gen_random_uuid()::text"


EVENT_ROW = (
    f"({uuid()}, 'hpcpolicy.lien.reserved', {uuid()}, localtimestamp, NULL, md5(random()::text), {SCOPE}, "
    f"{literal(EVENT)}, md5(random()::text) || md5(random()::text), NULL, NULL, NULL)"
)
STATEMENTS = [
    f"SELECT scope FROM scope_locks WHERE scope IN ({SCOPE}) ORDER BY scope FOR UPDATE",
    "SELECT * FROM ("
    f"SELECT 0, 'held', sum(cpu_hours), sum(gpu_hours), sum(cost), sum(jobs), sum(gpus) FROM held_totals "
    f"WHERE scope = {SCOPE} UNION ALL "
    "SELECT 0, 'lapsed', sum(cpu_hours), sum(gpu_hours), sum(cost), count(*), sum(gpus) FROM liens "
    "WHERE state = 'reserved' AND user_id = 'load' || {u} AND expires_at <= localtimestamp UNION ALL "
    "SELECT 1, 'charge', sum(cpu_hours), sum(gpu_hours), sum(cost), 0, 0 FROM usage_buckets "
    f"WHERE scope = {SCOPE} AND grain = 'month' AND bucket_start >= date_trunc('month', localtimestamp) "
    "AND bucket_start < date_trunc('month', localtimestamp) + interval '1 month' UNION ALL "
    "SELECT 1, kind, sum(cpu_hours), sum(gpu_hours), sum(cost), 0, 0 FROM adjustments "
    f"WHERE scope IN ({SCOPE}) AND at >= date_trunc('month', localtimestamp) GROUP BY kind) balances",
    "INSERT INTO liens (id, decision_id, user_id, project, team, org, cluster, partition, cpus, gpus, gpu_type, "
    "memory_gb, nodes, walltime_hours, cpu_hours, gpu_hours, cost, rate_cpu, rate_gpu, rate_mem, created_at, "
    "expires_at, state, job_id, started_at, ended_at, policy_version, weight_cpu, weight_gpu, service, closed_at) "
    f"VALUES ({uuid()}, {uuid()}, 'load' || {{u}}, NULL, NULL, NULL, 'helix', 'cpu', 4, 0, NULL, 0, 1, 1, 4, 0, "
    "0.04, 0.01, 0, 0.0005, localtimestamp, localtimestamp + interval '1 day', 'reserved', NULL, NULL, NULL, "
    "'bench@0', 1, 1, NULL, NULL)",
    "INSERT INTO held_totals (scope, id, cluster, partition, gpu_type, cpu_hours, gpu_hours, cost, jobs, gpus) "
    f"VALUES ({SCOPE}, md5('c' || {{u}}) || md5('p' || {{u}}), 'helix', 'cpu', NULL, 4, 0, 0.04, 1, 0) "
    "ON CONFLICT (scope, id) DO UPDATE SET cpu_hours = held_totals.cpu_hours + excluded.cpu_hours, "
    "gpu_hours = held_totals.gpu_hours + excluded.gpu_hours, cost = held_totals.cost + excluded.cost, "
    "jobs = held_totals.jobs + excluded.jobs, gpus = held_totals.gpus + excluded.gpus",
    "INSERT INTO decisions (id, at, caller, user_id, allow, policy_version, request, decision, lien_id, key) "
    f"VALUES ({uuid()}, localtimestamp, 'dev', 'load' || {{u}}, true, 'bench@0', {literal(REQUEST)}, "
    f"{literal(DECISION)}, NULL, NULL)",
    "INSERT INTO events (event_id, type, subject, time, actor, request_id, scopes, body, digest, seq, prev_hash, "
    f"hash) VALUES {EVENT_ROW}, {EVENT_ROW}",
]


def scripts(directory: Path) -> dict[str, Path]:
    """The two pgbench scripts, and the function the second one calls (created by :func:`prepare`)."""
    pick = "\\set n random(0, 996)\n"
    as_variable = [s.replace("{u}", "CAST(:n AS text)") for s in STATEMENTS]
    statements = directory / "statements.sql"
    statements.write_text(pick + "BEGIN;\n" + "".join(f"{s};\n" for s in as_variable) + "COMMIT;\n")
    function = directory / "function.sql"
    function.write_text(pick + "SELECT bench_reserve(CAST(:n AS text));\n")
    return {"statements": statements, "function": function}


def function_sql() -> str:
    body = []
    for statement in (s.replace("{u}", "u") for s in STATEMENTS):
        body.append(re.sub(r"^SELECT", "PERFORM", statement) + ";")
    return (
        "CREATE FUNCTION bench_reserve(u text) RETURNS void LANGUAGE plpgsql AS $body$\nBEGIN\n"
        + "\n".join(body)
        + "\nEND\n$body$"
    )


def prepare(url: str, directory: Path) -> None:
    """The service's schema (its own migration), a scope row per user (as after their first decision),
    and the function."""
    migrated = cli("db", "upgrade", "--database-url", url, cwd=directory, env=clean_env())
    if migrated.returncode != 0:
        raise SystemExit(f"hpcpolicy db upgrade failed: {migrated.stderr}")
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text(f"INSERT INTO scope_locks SELECT 'user:load' || g FROM generate_series(0, {USERS - 1}) g"))
        conn.execute(text(function_sql()))
    engine.dispose()


def run(url: str, script: Path, seconds: int) -> tuple[float, float]:
    """Decisions/s and the database's CPU ms per decision, over ``seconds`` of pgbench."""
    parts = make_url(url)
    command = ["pgbench", "-n", "-M", "prepared", "-c", str(CLIENTS), "-j", "2", "-T", str(seconds), "-f", str(script),
               "-h", parts.host or "127.0.0.1", "-p", str(parts.port or 5432), "-U", parts.username or "postgres",
               parts.database or ""]  # fmt: skip
    env = os.environ | ({"PGPASSWORD": parts.password} if parts.password else {})
    # The backends pgbench opens exit with it: their CPU is then the postmaster's children's (cutime).
    listed = subprocess.run(["pgrep", "-x", "postgres"], capture_output=True, text=True, check=False).stdout
    server = [int(pid) for pid in listed.split()]
    before = cpu_seconds(server, children=True)
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    time.sleep(0.5)  # until the postmaster has waited for the exited backends
    used = cpu_seconds(server, children=True) - before
    if done.returncode != 0 or "aborted" in done.stderr:
        raise SystemExit(f"pgbench failed:\n{done.stdout}\n{done.stderr}")
    processed = re.search(r"number of transactions actually processed: (\d+)", done.stdout)
    rate = re.search(r"tps = ([\d.]+)", done.stdout)
    if not processed or not rate or int(processed.group(1)) == 0:
        raise SystemExit(f"pgbench reported no transactions:\n{done.stdout}")
    return float(rate.group(1)), used / int(processed.group(1)) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--target", type=float, default=1500.0)
    parser.add_argument("--database-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    url = fresh_database(args.database_url, "hpcpolicy_dbfloor")
    with tempfile.TemporaryDirectory() as tmp:
        prepare(url, Path(tmp))
        files = scripts(Path(tmp))
        print(f"pgbench, {CLIENTS} connections, prepared statements, {args.seconds} s per row; {cores} cores")
        print(f"{'shape':<12} {'decisions/s':>11} {'db cpu ms':>9} {f'left at {args.target:.0f}/s ms':>18}")
        for _ in range(args.rounds):  # alternating, as the machine's speed drifts
            for shape, script in files.items():
                rate, db_ms = run(url, script, args.seconds)
                left = cores / args.target * 1000 - db_ms
                print(f"{shape:<12} {rate:>11.0f} {db_ms:>9.2f} {left:>18.2f}")


if __name__ == "__main__":
    main()
