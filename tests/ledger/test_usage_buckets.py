"""Running totals (usage_buckets) equal the summed charges: for any charges and any window, on every SQL backend.

The oracle is the plain definition, in Python: the charges whose scopes include the target's, inside its
slice, dated in ``[start, end)``. Windows are drawn from every kind a policy has (UTC months and quarters, a
zoned fiscal year, rolling days, fixed ranges, edges mid-day and at the end of time), charges from dates
that cluster on month and day boundaries.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, delete, insert, select, update

from hpcpolicy.engine import Amounts, QuotaRef
from hpcpolicy.engine.slices import Slice
from hpcpolicy.engine.usage import ZERO
from hpcpolicy.engine.windows import INSTANT, calendar_period, period_bounds
from hpcpolicy.ledger.counters import counter, counts_toward, entry_scopes
from hpcpolicy.ledger.model import Charge
from hpcpolicy.ledger.rules import UsageReads
from hpcpolicy.ledger.sql import bucket_check
from hpcpolicy.ledger.sql.buckets import bucket_row, split
from hpcpolicy.ledger.sql.connect import create_ledger_engine
from hpcpolicy.ledger.sql.ledger import SqlLedger
from hpcpolicy.ledger.sql.migrate import upgrade
from hpcpolicy.ledger.sql.rows import to_db
from hpcpolicy.ledger.sql.tables import charges, usage_buckets
from hpcpolicy.ledger.sql.usage_read import read_usage
from hpcpolicy.policy.schema import Quota
from tests.dbservers import server_database
from tests.ledger.conftest import amounts_close

Spec = tuple[str, str | None, str | None, str, str | None, str | None, str | None, datetime, float, float, float]
QUOTA = Quota(window="monthly", cpu_hours=1)
SLICES = (None, Slice(frozenset({"c1"})), Slice(None, frozenset({"gpu"})), Slice(None, None, frozenset({"a100"})),
          Slice(frozenset({"c1", "c2"}), None, frozenset({"a100", "h100"})))  # fmt: skip
SCOPES = ("user:alice", "user:bob", "project:p", "project:q", "project:p/user:alice", "project:q/user:bob", "team:t",
          "org:o", "org:x")  # fmt: skip
# Instants near month and day edges (where a bucket split would go wrong first), and anywhere in 3 months.
EDGES = [datetime(2026, m, d, tzinfo=UTC) + shift for m in (1, 2, 3, 4) for d in (1, 2, 28)
         for shift in (timedelta(0), INSTANT, -INSTANT, timedelta(hours=5))]  # fmt: skip
moments = st.one_of(
    st.sampled_from(EDGES),
    st.datetimes(datetime(2025, 12, 20), datetime(2026, 4, 10)).map(lambda t: t.replace(tzinfo=UTC)),
)
amount = st.one_of(st.sampled_from([0.0, 0.5, 1.0, 3.25]), st.floats(0, 1e6, allow_nan=False))
charge_specs = st.tuples(
    st.sampled_from(["alice", "bob"]), st.sampled_from([None, "p", "q"]), st.sampled_from([None, "t"]),
    st.sampled_from(["o", "x"]), st.sampled_from([None, "c1", "c2"]), st.sampled_from([None, "cpu", "gpu"]),
    st.sampled_from([None, "a100", "h100"]), moments, amount, amount, amount,
)  # fmt: skip


@st.composite
def windows(draw: st.DrawFn) -> tuple[datetime, datetime]:
    now = draw(moments)
    kind = draw(st.sampled_from(["month", "quarter", "fiscal", "rolling", "fixed", "end_of_time"]))
    if kind in ("month", "quarter"):
        return calendar_period(1 if kind == "month" else 3, now.year, now.month)
    if kind == "fiscal":
        return period_bounds(12, 7, "America/New_York", now)
    if kind == "rolling":
        return now - timedelta(days=draw(st.integers(0, 100))), now + INSTANT
    if kind == "end_of_time":
        return now, datetime.max.replace(tzinfo=UTC)
    other = draw(moments)
    return min(now, other), max(now, other)


def oracle(made: list[Charge], scope: str, sliced: Slice | None, start: datetime, end: datetime) -> Amounts:
    total = Amounts(0.0, 0.0, 0.0)
    for charge in made:
        if scope in entry_scopes(charge) and counts_toward(charge, sliced) and start <= charge.at < end:
            total += charge.amounts
    return total


def fill(engine: Engine, specs: list[Spec]) -> list[Charge]:
    with engine.begin() as conn:
        conn.execute(delete(charges))
        conn.execute(delete(usage_buckets))
    made = []
    ledger = SqlLedger(engine)
    for n, (user, project, team, org, cluster, partition, gpu_type, at, cpu, gpu, cost) in enumerate(specs):
        charge = Charge(f"c{n}", None, None, user, project, team, org, cluster, partition, Amounts(cpu, gpu, cost),
                        at, "sync", f"k{n}", gpu_type)  # fmt: skip
        with ledger.session() as tx:
            tx.add_charge(charge)
        made.append(charge)
    return made


@settings(deadline=None, max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(specs=st.lists(charge_specs, max_size=25), asked=st.lists(windows(), min_size=1, max_size=4),
       sliced=st.sampled_from(SLICES))  # fmt: skip
def test_settled_and_every_scope_at_once_equal_the_summed_charges(
    sql_engine: Engine, specs: list[Spec], asked: list[tuple[datetime, datetime]], sliced: Slice | None
) -> None:
    engine = sql_engine
    made = fill(engine, specs)
    ledger = SqlLedger(engine)
    with ledger.reading() as tx:
        for start, end in asked:
            for scope in SCOPES:
                target = scope if sliced is None else QuotaRef(f"{scope}#s", scope, QUOTA, sliced)
                got = tx.settled(target, start, end)
                want = oracle(made, scope, counter(target).slice, start, end)
                assert amounts_close(got, want), (scope, sliced, start, end, got, want)
        # A decision's reads, batched into one statement (in chunks past MAX_PARTS): the same answers.
        targets = [scope if sliced is None else QuotaRef(f"{scope}#s", scope, QUOTA, sliced) for scope in SCOPES]
        batch = UsageReads(tuple(targets), tuple((t, start, end) for start, end in asked * 3 for t in targets))
        held, settled = read_usage(tx.conn, batch, asked[0][0])
        for (amounts, active), (one_amounts, one_active) in zip(held, [tx.reserved(t, asked[0][0]) for t in targets],
                                                                strict=True):  # fmt: skip
            assert amounts_close(amounts, one_amounts) and active == one_active
        assert all(amounts_close(x, tx.settled(*window)) for x, window in zip(settled, batch.windows, strict=True))
        for start, end in asked:  # every scope at once, as the overview reads them
            many = tx.scope_totals(SCOPES, start, end, sliced)
            for scope in SCOPES:
                want = oracle(made, scope, sliced, start, end)
                assert amounts_close(many.get(scope, ZERO), want), (scope, start, end)
        first = asked[0][0].replace(hour=0, minute=0, second=0, microsecond=0)
        daily = tx.scope_daily(SCOPES, first, 9, sliced)
        for scope in SCOPES:
            days = [(first + timedelta(days=k), first + timedelta(days=k + 1)) for k in range(9)]
            want = [oracle(made, scope, sliced, a, b) for a, b in days]
            assert all(amounts_close(x, y) for x, y in zip(daily.get(scope, [ZERO] * 9), want, strict=True)), scope
    with engine.connect() as conn:  # what add_charge kept is what the migration's backfill computes
        assert bucket_check.differences(bucket_check.recompute(conn), bucket_check.stored(conn)) == []


@settings(deadline=None)
@given(start=moments, end=moments, months=st.booleans())
def test_split_covers_the_window_once(start: datetime, end: datetime, months: bool) -> None:
    start, end = start.replace(tzinfo=None), end.replace(tzinfo=None)
    parts = split(start, end, months=months)
    pieces = [(parts.start, parts.d0), (parts.d0, parts.m0), (parts.m0, parts.m1), (parts.m1, parts.d1),
              (parts.d1, parts.end)]  # fmt: skip
    covered = [(a, b) for a, b in pieces if a < b]
    if end <= start:
        assert covered == []
        return
    assert covered[0][0] == start and covered[-1][1] == end
    assert all(a[1] == b[0] for a, b in pairwise(covered))
    assert all(t.time() == datetime.min.time() for t in (parts.d0, parts.m0, parts.m1, parts.d1) if start < t < end)
    assert all(t.day == 1 for t in (parts.m0, parts.m1) if parts.m0 < parts.m1)
    assert months or parts.m0 == parts.m1


def test_the_migration_backfills_the_charges_recorded_before_it(tmp_path: Path) -> None:
    """Charges written at revision 0008 (no buckets) are in the buckets after 0009, as add_charge keeps them."""
    gpu: Spec = ("alice", "p", "t", "o", "c1", "gpu", "a100", datetime(2026, 1, 31, 23, 59, tzinfo=UTC), 1.5, 2.0, 3.0)
    specs = [gpu, ("bob", None, None, "x", None, None, None, datetime(2026, 2, 1, tzinfo=UTC), 4.0, 0.0, 0.25),
             (*gpu[:7], datetime(2026, 1, 2, tzinfo=UTC), 0.5, 1.0, 1.0)]  # fmt: skip
    live = create_ledger_engine(f"sqlite:///{tmp_path / 'live.db'}")
    upgrade(live)
    made = fill(live, specs)
    old = create_ledger_engine(f"sqlite:///{tmp_path / 'old.db'}")
    upgrade(old, "0008")
    with old.begin() as conn:
        for charge in made:
            a = charge.amounts
            conn.execute(insert(charges).values(
                id=charge.id, user_id=charge.user_id, project=charge.project, team=charge.team, org=charge.org,
                cluster=charge.cluster, partition=charge.partition, gpu_type=charge.gpu_type, cpu_hours=a.cpu_hours,
                gpu_hours=a.gpu_hours, cost=a.cost, at=to_db(charge.at), source="sync", key=charge.key))  # fmt: skip
    upgrade(old)
    with live.connect() as kept, old.connect() as backfilled:
        assert bucket_check.differences(bucket_check.stored(kept), bucket_check.stored(backfilled)) == []
        assert len(bucket_check.stored(backfilled)) == 5 * 3 + 2 * 2  # alice: 5 scopes, 2 days, 1 month; bob: 2, 1, 1
    live.dispose()
    old.dispose()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql", "mariadb"])
def test_check_finds_a_tampered_bucket_and_repair_fixes_it(backend: str, tmp_path: Path) -> None:
    specs = [("alice", "p", "t", "o", "c1", "cpu", None, datetime(2026, 3, 5, 10, tzinfo=UTC), 2.0, 0.0, 0.5)]
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'ledger.db'}"
        _check_and_repair(url, specs)
    else:
        with server_database(backend, suffix="_buckets") as url:
            _check_and_repair(url, specs)


def _check_and_repair(url: str, specs: list[Spec]) -> None:
    engine = create_ledger_engine(url)
    try:
        upgrade(engine)
        fill(engine, specs)
        assert bucket_check.check(engine) == []
        with engine.begin() as conn:
            conn.execute(update(usage_buckets).where(usage_buckets.c.scope == "project:p",
                                                     usage_buckets.c.grain == "day").values(cpu_hours=7.0))  # fmt: skip
            org_month = (usage_buckets.c.scope == "org:o", usage_buckets.c.grain == "month")
            conn.execute(delete(usage_buckets).where(*org_month))
            stray = bucket_row("team:t", "month", datetime(2027, 6, 1), ("c1", "cpu", None), (1.0, 0.0, 0.0), 1)
            conn.execute(insert(usage_buckets).values(stray))  # a month without charges
        found = bucket_check.check(engine)
        assert {(d.scope, d.grain, d.stored, d.expected) for d in found} == {
            ("project:p", "day", (7.0, 0.0, 0.5, 1), (2.0, 0.0, 0.5, 1)),
            ("org:o", "month", None, (2.0, 0.0, 0.5, 1)),
            ("team:t", "month", (1.0, 0.0, 0.0, 1), None),
        }
        assert bucket_check.check(engine, repair=True) == found
        assert bucket_check.check(engine) == []
        with engine.connect() as conn:
            assert conn.execute(select(usage_buckets.c.cpu_hours).where(
                usage_buckets.c.scope == "project:p", usage_buckets.c.grain == "day")).scalar_one() == 2.0  # fmt: skip
    finally:
        with engine.begin() as conn:
            conn.execute(delete(charges))
            conn.execute(delete(usage_buckets))
        engine.dispose()
