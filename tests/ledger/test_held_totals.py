"""Running totals of the open liens (held_totals) equal the open liens summed: for any history of liens
(reserved, started, closed, lapsed, swept, moved) and any moment, on every SQL backend.

The oracle is the definition, in Python: the liens whose scopes include the target's, inside its slice,
running or reserved and not lapsed at the moment read. ``hpcpolicy db check``'s recomputation must agree with
the rows after any history, and find rows tampered with.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, delete, insert, update

from hpcpolicy.engine import Active, Amounts, QuotaRef
from hpcpolicy.engine.slices import Slice
from hpcpolicy.ledger.counters import counts_toward, entry_scopes
from hpcpolicy.ledger.model import Lien, LienState
from hpcpolicy.ledger.sql import held_check
from hpcpolicy.ledger.sql.connect import create_ledger_engine
from hpcpolicy.ledger.sql.held import held_row
from hpcpolicy.ledger.sql.ledger import SqlLedger
from hpcpolicy.ledger.sql.migrate import upgrade
from hpcpolicy.ledger.sql.rows import lien_row
from hpcpolicy.ledger.sql.tables import held_totals, liens
from hpcpolicy.policy.schema import Quota
from tests.dbservers import server_database
from tests.ledger.conftest import amounts_close

T0 = datetime(2026, 11, 15, tzinfo=UTC)
QUOTA = Quota(window="monthly", cpu_hours=1)
SLICES = (None, Slice(frozenset({"c1"})), Slice(None, frozenset({"gpu"})), Slice(None, None, frozenset({"a100"})),
          Slice(frozenset({"c1", "c2"}), None, frozenset({"a100", "h100"})))  # fmt: skip
SCOPES = ("user:alice", "user:bob", "project:p", "project:p/user:alice", "project:q/user:bob", "team:t", "org:o",
          "org:x", "service:wf", "service:wf/user:bob")  # fmt: skip
amount = st.one_of(st.sampled_from([0.0, 0.5, 1.0, 3.25]), st.floats(0, 1e6, allow_nan=False))
lien_specs = st.tuples(
    st.sampled_from(["alice", "bob"]), st.sampled_from([None, "p", "q"]), st.sampled_from([None, "t"]),
    st.sampled_from(["o", "x"]), st.sampled_from(["c1", "c2"]), st.sampled_from(["cpu", "gpu"]),
    st.sampled_from([None, "a100", "h100"]), st.sampled_from([None, "wf"]), st.integers(0, 8),
    st.integers(1, 48), amount, amount, amount,
)  # fmt: skip
#: What happens to a lien after it is reserved, and when (hours after T0).
fates = st.tuples(st.sampled_from(["none", "start", "finish", "cancel", "start_finish", "move", "sweep"]),
                  st.integers(0, 60))  # fmt: skip


def make_lien(n: int, spec: tuple[Any, ...]) -> Lien:
    user, project, team, org, cluster, partition, gpu_type, service, gpus, ttl, cpu, gpu, cost = spec
    return Lien(f"l{n}", f"d{n}", user, project, team, org, cluster, partition, 4, gpus, gpu_type, 8.0, 1, 1.0,
                Amounts(cpu, gpu, cost), (1.0, 1.0, 0.0), T0, T0 + timedelta(hours=ttl), service=service)  # fmt: skip


def play(engine: Engine, specs: list[tuple[Any, ...]], fates_: list[tuple[str, int]]) -> list[Lien]:
    """Reserve a lien per spec and give it its fate, through the ledger session's own calls; the liens as
    the ledger holds them at the end (a sweep expires other liens than its own)."""
    with engine.begin() as conn:
        conn.execute(delete(liens))
        conn.execute(delete(held_totals))
    ledger = SqlLedger(engine)
    made = []
    for n, (spec, (fate, hours)) in enumerate(zip(specs, fates_, strict=False)):
        lien = make_lien(n, spec)
        at = T0 + timedelta(hours=hours)
        with ledger.session() as tx:
            tx.add_lien(lien)
        with ledger.session() as tx:
            lien = tx.get_lien(lien.id, lock=True) or lien  # a sweep may have expired it since
            if fate in ("start", "start_finish"):
                lien = lien.with_state(LienState.RUNNING, started_at=at)
                tx.update_lien(lien)
            if fate in ("finish", "start_finish", "cancel"):
                lien = lien.with_state(LienState.FINISHED if fate != "cancel" else LienState.CANCELLED, ended_at=at)
                tx.update_lien(lien)
            if fate == "move":  # a report that moves the lien (a job requeued to another partition, say)
                lien = replace(lien, partition="gpu" if lien.partition == "cpu" else "cpu", gpus=lien.gpus + 1,
                               amounts=Amounts(lien.amounts.cpu_hours + 1, 0.0, lien.amounts.cost))  # fmt: skip
                tx.update_lien(lien)
            if fate == "sweep":
                tx.expire_liens(at)
        made.append(lien.id)
    with ledger.reading() as tx:
        return [found for lien_id in made if (found := tx.get_lien(lien_id)) is not None]


def oracle(made: list[Lien], scope: str, sliced: Slice | None, now: datetime) -> tuple[Amounts, Active]:
    total, jobs, gpus = Amounts(0.0, 0.0, 0.0), 0, 0
    for lien in made:
        held = lien.state == LienState.RUNNING or (lien.state == LienState.RESERVED and lien.expires_at > now)
        if held and scope in entry_scopes(lien) and counts_toward(lien, sliced):
            total, jobs, gpus = total + lien.amounts, jobs + 1, gpus + lien.gpus
    return total, Active(jobs, gpus)


@settings(deadline=None, max_examples=50, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(specs=st.lists(lien_specs, max_size=20), fates_=st.lists(fates, min_size=20, max_size=20),
       hours=st.lists(st.integers(0, 60), min_size=1, max_size=3), sliced=st.sampled_from(SLICES))  # fmt: skip
def test_open_liens_read_from_the_running_totals_equal_the_liens_summed(
    sql_engine: Engine, specs: list[tuple[Any, ...]], fates_: list[tuple[str, int]], hours: list[int],
    sliced: Slice | None,
) -> None:  # fmt: skip
    engine = sql_engine
    made = play(engine, specs, fates_)
    with SqlLedger(engine).reading() as tx:
        for h in hours:
            now = T0 + timedelta(hours=h)
            for scope in SCOPES:
                target = scope if sliced is None else QuotaRef(f"{scope}#s", scope, QUOTA, sliced)
                amounts, active = tx.reserved(target, now)
                want, want_active = oracle(made, scope, sliced, now)
                assert active == want_active, (scope, now)
                assert amounts_close(amounts, want, abs_tol=1e-6), (scope, now, amounts, want)
    assert held_check.check(engine) == []


@pytest.mark.parametrize("backend", ["sqlite", "postgresql", "mariadb"])
def test_check_finds_a_tampered_total_and_repair_fixes_it(backend: str, tmp_path: Path) -> None:
    if backend == "sqlite":
        _check_and_repair(f"sqlite:///{tmp_path / 'ledger.db'}")
    else:
        with server_database(backend, suffix="_held") as url:
            _check_and_repair(url)


def _check_and_repair(url: str) -> None:
    engine = create_ledger_engine(url)
    try:
        upgrade(engine)
        spec = ("alice", "p", "t", "o", "c1", "cpu", None, None, 0, 24, 2.0, 0.0, 0.5)
        play(engine, [spec, spec], [("none", 0), ("start_finish", 1)])
        assert held_check.check(engine) == []
        with engine.begin() as conn:
            conn.execute(update(held_totals).where(held_totals.c.scope == "project:p").values(jobs=5))
            conn.execute(delete(held_totals).where(held_totals.c.scope == "org:o"))
            conn.execute(insert(held_totals).values(held_row("team:z", ("c1", "cpu", None), (1.0, 0.0, 0.0, 1, 0))))
        found = held_check.check(engine)
        assert {(d.scope, d.stored, d.expected) for d in found} == {
            ("project:p", (2.0, 0.0, 0.5, 5, 0), (2.0, 0.0, 0.5, 1, 0)),
            ("org:o", None, (2.0, 0.0, 0.5, 1, 0)),
            ("team:z", (1.0, 0.0, 0.0, 1, 0), None),
        }
        assert held_check.check(engine, repair=True) == found
        assert held_check.check(engine) == []
    finally:
        with engine.begin() as conn:
            conn.execute(delete(liens))
            conn.execute(delete(held_totals))
        engine.dispose()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql", "mariadb"])
def test_the_migration_fills_the_totals_of_the_liens_open_before_it(backend: str, tmp_path: Path) -> None:
    """Liens written at revision 0009 (no running totals) are in the totals after 0010, as add_lien keeps them,
    on every backend (the migration also rebuilds the scope indexes of ``liens``)."""
    specs = [("alice", "p", "t", "o", "c1", "gpu", "a100", "wf", 2, 24, 1.5, 2.0, 3.0),
             ("bob", None, None, "x", "c2", "cpu", None, None, 0, 24, 4.0, 0.0, 0.25),
             ("alice", "p", "t", "o", "c1", "gpu", "a100", None, 1, 24, 0.5, 1.0, 1.0)]  # fmt: skip
    live = create_ledger_engine(f"sqlite:///{tmp_path / 'live.db'}")
    upgrade(live)
    made = play(live, specs, [("none", 0), ("start", 1), ("finish", 2)])
    if backend == "sqlite":
        _migrate_and_compare(live, f"sqlite:///{tmp_path / 'old.db'}", made)
    else:
        with server_database(backend, suffix="_held_migration") as url:
            _migrate_and_compare(live, url, made)
    live.dispose()


def _migrate_and_compare(live: Engine, url: str, made: list[Lien]) -> None:
    old = create_ledger_engine(url)
    try:
        upgrade(old, "0009")
        with old.begin() as conn:
            conn.execute(insert(liens), [dict(lien_row(lien), weight_cpu=1.0, weight_gpu=1.0) for lien in made])
        upgrade(old)
        with live.connect() as kept, old.connect() as filled:
            assert held_check.differences(held_check.stored(kept), held_check.stored(filled)) == []
            assert len(held_check.stored(filled)) == 7 + 2  # alice: 5 scopes and 2 of her service; bob: 2
        assert held_check.check(old) == []
    finally:
        old.dispose()


def test_an_update_of_a_lien_the_ledger_does_not_hold_changes_no_total(sql_engine: Engine) -> None:
    spec = ("alice", "p", "t", "o", "c1", "cpu", None, None, 0, 24, 2.0, 0.0, 0.5)
    play(sql_engine, [spec], [("none", 0)])
    ghost = make_lien(99, spec).with_state(LienState.RUNNING, started_at=T0)  # never reserved here
    with SqlLedger(sql_engine).session() as tx:
        tx.update_lien(ghost)
    with SqlLedger(sql_engine).reading() as tx:
        amounts, active = tx.reserved("org:o", T0)
    assert active == Active(1, 0) and amounts_close(amounts, Amounts(2.0, 0.0, 0.5))
    assert held_check.check(sql_engine) == []
