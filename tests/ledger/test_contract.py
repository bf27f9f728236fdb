"""The ledger contract: the same balance rules on every implementation (see ledger/rules.py)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hpcpolicy.engine import Active, Amounts
from hpcpolicy.engine.snapshot import QuotaRef
from hpcpolicy.ledger import Adjustment, AdjustmentKind, Charge, DecisionRecord, Lien, LienState
from hpcpolicy.ledger.base import DuplicateKey
from hpcpolicy.ledger.memory import MemoryLedger
from hpcpolicy.ledger.rules import lien_counts, lien_scopes, snapshot
from hpcpolicy.policy.schema import Quota

T0 = datetime(2026, 11, 10, 12, 0, tzinfo=UTC)
MONTH = (datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC))


def lien(lien_id: str = "l1", *, user: str = "alice", project: str | None = "p", gpus: int = 0, **kw: object) -> Lien:
    fields: dict[str, object] = {
        "id": lien_id,
        "decision_id": lien_id,
        "user_id": user,
        "project": project,
        "team": "t" if project else None,
        "org": "o" if project else None,
        "cluster": "c",
        "partition": "cpu",
        "cpus": 4,
        "gpus": gpus,
        "gpu_type": None,
        "memory_gb": 8.0,
        "nodes": 1,
        "walltime_hours": 10.0,
        "amounts": Amounts(40.0, gpus * 10.0, 4.0),
        "rates": (0.1, 1.0, 0.0),
        "created_at": T0,
        "expires_at": T0 + timedelta(hours=1),
    }
    fields.update(kw)
    return Lien(**fields)  # type: ignore[arg-type]


def charge(charge_id: str, at: datetime, amounts: Amounts, *, user: str = "alice", key: str | None = None) -> Charge:
    return Charge(charge_id, None, None, user, "p", "t", "o", "c", "cpu", amounts, at, "sync", key)


def test_open_lien_counts_on_every_scope_of_its_path(ledger) -> None:
    with ledger.session() as tx:
        tx.add_lien(lien(gpus=2))
    with ledger.session() as tx:
        for scope in ("user:alice", "project:p", "team:t", "org:o"):
            assert tx.reserved(scope, T0) == (Amounts(40.0, 20.0, 4.0), Active(1, 2))
        assert tx.reserved("project:other", T0) == (Amounts(), Active())


def test_reserved_lien_stops_counting_at_expiry_running_does_not(ledger) -> None:
    with ledger.session() as tx:
        tx.add_lien(lien("a"))
        tx.add_lien(lien("b", state=LienState.RUNNING, job_id="42"))
    later = T0 + timedelta(hours=1)
    with ledger.session() as tx:
        assert tx.reserved("user:alice", later - timedelta(microseconds=1))[1].jobs == 2
        assert tx.reserved("user:alice", later)[1].jobs == 1
        tx.expire_liens(later)  # the memory ledger may already have expired it lazily while reading
    with ledger.session() as tx:
        assert tx.get_lien("a").state == LienState.EXPIRED  # type: ignore[union-attr]
        assert tx.get_lien("b").state == LienState.RUNNING  # type: ignore[union-attr]


def test_closing_a_lien_releases_it(ledger) -> None:
    with ledger.session() as tx:
        tx.add_lien(lien())
    with ledger.session() as tx:
        tx.update_lien(replace(tx.get_lien("l1"), state=LienState.FINISHED, ended_at=T0))
    with ledger.session() as tx:
        assert tx.reserved("project:p", T0) == (Amounts(), Active())
        assert list(tx.open_liens()) == []


def test_charges_count_in_the_window_of_their_date(ledger) -> None:
    with ledger.session() as tx:
        tx.add_charge(charge("c1", datetime(2026, 10, 31, 23, 59, tzinfo=UTC), Amounts(100, 0, 1)))
        tx.add_charge(charge("c2", datetime(2026, 11, 1, tzinfo=UTC), Amounts(10, 1, 2)))
        tx.add_charge(charge("c3", datetime(2026, 11, 30, 23, 59, tzinfo=UTC), Amounts(5, 0, 0.5)))
        tx.add_charge(charge("c4", datetime(2026, 12, 1, tzinfo=UTC), Amounts(1000, 0, 0)))
    with ledger.session() as tx:
        for scope in ("user:alice", "project:p", "team:t", "org:o"):
            assert tx.settled(scope, *MONTH) == Amounts(15, 1, 2.5)
        assert tx.settled("user:bob", *MONTH) == Amounts()


def test_charges_out_of_time_order_are_summed_correctly(ledger) -> None:
    with ledger.session() as tx:
        for i, day in enumerate([20, 5, 12, 1, 28]):
            tx.add_charge(charge(f"c{i}", datetime(2026, 11, day, tzinfo=UTC), Amounts(day, 0, 0)))
    with ledger.session() as tx:
        assert tx.settled(
            "project:p", datetime(2026, 11, 5, tzinfo=UTC), datetime(2026, 11, 21, tzinfo=UTC)
        ) == Amounts(37, 0, 0)


@pytest.mark.parametrize(
    ("kind", "sign"),
    [(AdjustmentKind.GRANT, -1), (AdjustmentKind.REFUND, -1), (AdjustmentKind.DEPOSIT, -1), (AdjustmentKind.DEBIT, 1)],
)
def test_adjustments_are_signed_by_kind(ledger, kind: AdjustmentKind, sign: int) -> None:
    with ledger.session() as tx:
        tx.add_adjustment(Adjustment("a1", "project:p", kind, Amounts(10, 2, 3), "why", "admin", T0, key="k"))
    with ledger.session() as tx:
        assert tx.settled("project:p", *MONTH) == Amounts(sign * 10, sign * 2, sign * 3)
        assert tx.settled("team:t", *MONTH) == Amounts()  # adjustments apply to their own scope only
        assert tx.find_adjustment("k").kind == kind  # type: ignore[union-attr]


def test_lookups_by_job_key_and_lien(ledger) -> None:
    with ledger.session() as tx:
        tx.add_lien(lien(job_id="slurm-7"))
        tx.add_charge(replace(charge("c1", T0, Amounts(1, 0, 0), key="lien:l1"), lien_id="l1"))
        tx.add_decision(
            DecisionRecord("d1", T0, "gw", "alice", True, "v1", {"user_id": "alice"}, {"allow": True}, "l1", "k1")
        )
    with ledger.session() as tx:
        assert [found.id for found in tx.find_liens_by_job("slurm-7")] == ["l1"]
        assert [found.id for found in tx.find_liens_by_job("slurm-7", "c")] == ["l1"]
        assert tx.find_liens_by_job("slurm-7", "other-cluster") == []
        assert tx.find_charge("lien:l1").id == "c1"  # type: ignore[union-attr]
        assert [c.id for c in tx.charges_for_lien("l1")] == ["c1"]
        record = tx.find_decision("k1")
        assert record is not None and record.decision == {"allow": True} and record.at == T0
        assert tx.get_decision("nope") is None and tx.find_liens_by_job("nope") == []


def test_job_ids_are_unique_per_cluster_only(ledger) -> None:
    with ledger.session() as tx:
        tx.add_lien(lien("a", job_id="1234", cluster="east"))
        tx.add_lien(lien("b", job_id="1234", cluster="west"))  # every Slurm cluster has a job 1234
    with ledger.session() as tx:
        assert [found.id for found in tx.find_liens_by_job("1234")] == ["a", "b"]
        assert [found.id for found in tx.find_liens_by_job("1234", "west")] == ["b"]
    with pytest.raises(DuplicateKey), ledger.session() as tx:
        tx.add_lien(lien("c", job_id="1234", cluster="west"))
    with pytest.raises(DuplicateKey), ledger.session() as tx:
        tx.add_lien(lien("d", cluster="east"))
        tx.update_lien(replace(lien("d", cluster="east"), job_id="1234"))
    with ledger.session() as tx:
        assert tx.get_lien("c") is None and [found.id for found in tx.find_liens_by_job("1234")] == ["a", "b"]


def test_times_round_trip_as_utc(ledger) -> None:
    with ledger.session() as tx:
        tx.add_lien(lien(created_at=T0.replace(microsecond=123456)))
    with ledger.session() as tx:
        got = tx.get_lien("l1")
    assert got is not None and got.created_at == T0.replace(microsecond=123456) and got.created_at.tzinfo is not None


def test_user_only_lien_has_no_project_scopes(ledger) -> None:
    with ledger.session() as tx:
        tx.add_lien(lien(user="guest", project=None))
    with ledger.session() as tx:
        assert tx.reserved("user:guest", T0)[1] == Active(1, 0)
        assert [entry.id for entry in tx.open_liens("user:guest")] == ["l1"]


def test_an_open_lien_counts_where_it_is_now(ledger) -> None:
    """An open lien updated onto another path or to other amounts counts there, with those amounts."""
    with ledger.session() as tx:
        tx.add_lien(lien())
    with ledger.session() as tx:
        moved = replace(tx.get_lien("l1"), project="q", amounts=Amounts(7, 0, 1), state=LienState.RUNNING)
        tx.update_lien(moved)
    with ledger.session() as tx:
        assert tx.reserved("project:p", T0) == (Amounts(), Active())
        assert tx.reserved("project:q", T0) == (Amounts(7, 0, 1), Active(1, 0))
        assert tx.reserved("user:alice", T0) == (Amounts(7, 0, 1), Active(1, 0))
        tx.update_lien(replace(moved, state=LienState.FINISHED, ended_at=T0))
    with ledger.session() as tx:
        for scope in ("user:alice", "project:p", "project:q", "team:t", "org:o"):
            assert tx.reserved(scope, T0)[1] == Active()


# -- the memory ledger's fast paths (memory only): the same answers as its generic ones -----------------

WINDOWS = ["monthly", "quarterly", "yearly", {"rolling_days": 3}, {"rolling_days": 40},
           {"start": "2026-11-05", "end": "2027-01-10"}]  # fmt: skip
SCOPES = ["user:alice", "user:bob", "project:p", "team:t", "org:o", "project:q"]
HISTORY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def quota_refs(draw: st.DrawFn) -> tuple[QuotaRef, ...]:
    refs = []
    for i, scope in enumerate(draw(st.lists(st.sampled_from(SCOPES), min_size=1, max_size=5))):
        window = draw(st.sampled_from(WINDOWS))
        carry = {"carry_over": {"fraction": 0.5}} if isinstance(window, str) and draw(st.booleans()) else {}
        quota = Quota.model_validate(
            {"window": window, "cpu_hours": 100.0, "max_jobs": draw(st.sampled_from([None, 3])), **carry}
        )
        refs.append(QuotaRef(f"{scope}#q{i}", scope, quota))
    return tuple(refs)


def apply_random_operation(draw: st.DrawFn, ledgers: list[MemoryLedger], now: datetime, step: int) -> None:
    """One write, the same on every ledger; a close goes through ``close_lien`` on the first ledger and through
    ``update_lien`` + ``add_charge`` on the others."""
    first = ledgers[0]
    open_ids = [
        lien_id for lien_id, lien in first.liens.items() if lien.state in (LienState.RESERVED, LienState.RUNNING)
    ]
    kind = draw(st.sampled_from(["lien", "lien", "close", "close", "run", "charge", "adjust", "read"]))
    if kind in ("close", "run") and not open_ids:
        kind = "lien"
    if kind == "lien":
        user = draw(st.sampled_from(["alice", "bob"]))
        project = draw(st.sampled_from(["p", "q", None]))
        state = draw(st.sampled_from([LienState.RESERVED, LienState.RESERVED, LienState.RUNNING]))
        expires = now + timedelta(hours=draw(st.sampled_from([1, 30, 24 * 20])))
        made = lien(f"l{step}", user=user, project=project, gpus=draw(st.integers(0, 2)), state=state,
                    created_at=now, expires_at=expires, job_id=f"job{step}",
                    partition=draw(st.sampled_from(["cpu", "gpu"])),
                    amounts=Amounts(draw(st.floats(0, 50)), draw(st.floats(0, 5)), draw(st.floats(0, 9))))  # fmt: skip
        for ledger in ledgers:
            ledger.add_lien(made)
    elif kind == "close":
        lien_id = draw(st.sampled_from(open_ids))
        state = draw(st.sampled_from([LienState.FINISHED, LienState.CANCELLED, LienState.FAILED]))
        at = now - timedelta(hours=draw(st.sampled_from([0, 0, 5, 24 * 40])))  # sometimes dated in the past
        spec = None
        if draw(st.booleans()):
            spec = (
                f"c{step}",
                Amounts(draw(st.floats(0, 40)), 0.0, draw(st.floats(0, 4))),
                "finish",
                f"lien:{lien_id}",
                None,
            )
        first.close_lien(lien_id, state, at, spec)
        for ledger in ledgers[1:]:
            old = ledger.get_lien(lien_id)
            assert old is not None
            ledger.update_lien(replace(old, state=state, ended_at=at))
            if spec is not None:
                path = (old.user_id, old.project, old.team, old.org, old.cluster, old.partition)
                ledger.add_charge(
                    Charge(spec[0], lien_id, old.job_id, *path, spec[1], at, spec[2], spec[3], old.gpu_type)
                )
    elif kind == "run":
        lien_id = draw(st.sampled_from(open_ids))
        for ledger in ledgers:
            old = ledger.get_lien(lien_id)
            assert old is not None
            ledger.update_lien(replace(old, state=LienState.RUNNING, started_at=now))
    elif kind == "charge":
        at = now - timedelta(days=draw(st.sampled_from([0, 0, 2, 35])))
        made = charge(
            f"x{step}", at, Amounts(draw(st.floats(0, 30)), 0.0, 1.0), user=draw(st.sampled_from(["alice", "bob"]))
        )
        for ledger in ledgers:
            ledger.add_charge(made)
    elif kind == "adjust":
        kinds = st.sampled_from(list(AdjustmentKind))
        made_adjustment = Adjustment(f"a{step}", draw(st.sampled_from(SCOPES)), draw(kinds), Amounts(5.0, 1.0, 2.0),
                                     "why", "admin", now - timedelta(days=draw(st.sampled_from([0, 10]))))  # fmt: skip
        for ledger in ledgers:
            ledger.add_adjustment(made_adjustment)
    else:  # a read in the middle: makes the first ledger write what close_lien left pending
        first.get_lien(draw(st.sampled_from(open_ids or ["none"])))


def brute_force(ledger: MemoryLedger, ref: QuotaRef, now: datetime) -> tuple[float, int]:
    """CPU-hours consumed and jobs active on ``ref``, summed straight from the records (as SQL would)."""
    start, end = ref.bounds(now)
    used = sum(
        c.amounts.cpu_hours for c in ledger.charges.values() if ref.scope in lien_scopes(c) and start <= c.at < end
    )
    signs = {AdjustmentKind.DEBIT: 1.0}
    used += sum(signs.get(a.kind, -1.0) * a.amounts.cpu_hours for a in ledger.adjustments.values()
                if a.scope == ref.scope and start <= a.at < end)  # fmt: skip
    held = [x for x in ledger.liens.values() if ref.scope in lien_scopes(x) and lien_counts(x.state, x.expires_at, now)]
    return used + sum(x.amounts.cpu_hours for x in held), len(held)


@HISTORY
@given(st.data())
def test_memory_fast_paths_give_the_shared_rule_exactly(data: st.DataObject) -> None:
    """``usage`` and ``balances`` (cursors kept across calls) equal ``rules.snapshot`` over the generic
    queries bit for bit, and the sums agree with the records; closing with ``close_lien`` leaves the
    same records, in the same order, as ``update_lien`` + ``add_charge``."""
    draw = data.draw
    fast, plain = MemoryLedger(), MemoryLedger()
    refs = quota_refs(draw)
    resolved = fast.resolve(refs)
    now = T0
    for step in range(draw(st.integers(1, 40))):
        now += timedelta(hours=draw(st.sampled_from([0, 1, 7, 24 * 9])))
        apply_random_operation(draw, [fast, plain], now, step)
        at = now - timedelta(days=draw(st.sampled_from([0, 0, 0, 3, 45])))  # mostly now, sometimes earlier
        want = snapshot(refs, at, plain.settled, lambda scope, at=at: plain.reserved(scope, at))
        assert fast.usage(refs, at) == want
        used, active = fast.balances(resolved, at)
        assert [Amounts(*u) for u in used] == [want.consumed[ref.id] for ref in refs]
        assert fast.previous(resolved, at) == want.previous  # carry-over's previous windows, hints kept
        for ref, jobs in zip(refs, active, strict=True):
            assert jobs == (want.active[ref.scope] if ref.concurrent else Active())  # read where it limits
        for ref in refs:
            cpu, jobs = brute_force(plain, ref, at)
            assert want.consumed[ref.id].cpu_hours == pytest.approx(cpu, abs=1e-6)
            assert not ref.concurrent or want.active[ref.scope].jobs == jobs
    assert list(fast.liens.items()) == list(plain.liens.items())
    assert list(fast.charges.items()) == list(plain.charges.items())
    assert list(fast.open_liens()) == list(plain.open_liens())
    for lien_id in plain.liens:
        assert fast.charges_for_lien(lien_id) == plain.charges_for_lien(lien_id)
        assert fast.find_charge(f"lien:{lien_id}") == plain.find_charge(f"lien:{lien_id}")


def test_a_lien_closed_by_close_lien_is_written_when_read_and_never_expires() -> None:
    memory = MemoryLedger()
    memory.add_lien(lien("a", job_id="7"))
    closed = memory.close_lien("a", LienState.FINISHED, T0, ("c1", Amounts(3, 0, 0.3), "finish", "lien:a", None))
    assert closed.state == LienState.RESERVED  # the lien as it was
    assert memory.reserved("project:p", T0) == (Amounts(), Active())  # released at once
    assert memory.settled("org:o", *MONTH) == Amounts(3, 0, 0.3)  # and charged at once
    assert memory.expire_liens(T0 + timedelta(days=1)) == 0  # past its TTL, but closed
    assert memory.find_liens_by_job("7") == [replace(lien("a", job_id="7"), state=LienState.FINISHED, ended_at=T0)]
    written = Charge("c1", "a", "7", "alice", "p", "t", "o", "c", "cpu", Amounts(3, 0, 0.3), T0, "finish", "lien:a")
    assert memory.charges_for_lien("a") == [written] and memory.find_charge("lien:a") == written
    with pytest.raises(ValueError, match="closed state"):
        memory.close_lien("a", LienState.RUNNING, T0)


def test_lien_state_helpers_are_replace() -> None:
    made = lien(job_id="j", gpus=1, started_at=T0)
    assert made.with_state(LienState.FINISHED, ended_at=T0) == replace(made, state=LienState.FINISHED, ended_at=T0)
    assert made.with_state(LienState.EXPIRED) == replace(made, state=LienState.EXPIRED)
    later = T0 + timedelta(minutes=5)
    assert made.with_state(LienState.RUNNING, started_at=later) == replace(
        made, state=LienState.RUNNING, started_at=later
    )
    again = made.reissued("l9", later, later + timedelta(hours=1), "j9")
    assert again == replace(made, id="l9", decision_id="l9", created_at=later, expires_at=later + timedelta(hours=1),
                            job_id="j9", started_at=None, ended_at=None)  # fmt: skip


def test_carry_over_sees_a_late_charge_for_the_previous_window() -> None:
    """The previous window's sum is kept between decisions, but not past a charge that falls inside it."""
    quota = Quota.model_validate({"window": "monthly", "cpu_hours": 100.0, "carry_over": {"fraction": 0.5}})
    ref = QuotaRef("project:p", "project:p", quota)
    memory = MemoryLedger()
    resolved = memory.resolve((ref,))
    october, november = datetime(2026, 10, 20, tzinfo=UTC), datetime(2026, 11, 2, tzinfo=UTC)
    memory.add_charge(charge("c1", october, Amounts(10, 0, 0)))
    memory.balances(resolved, november)
    assert memory.previous(resolved, november) == {"project:p": Amounts(10, 0, 0)}
    memory.add_charge(charge("c2", datetime(2026, 10, 31, 23, tzinfo=UTC), Amounts(5, 0, 0)))  # sacct, late
    memory.balances(resolved, november)
    assert memory.previous(resolved, november) == {"project:p": Amounts(15, 0, 0)}
    memory.add_charge(charge("c3", november, Amounts(7, 0, 0)))  # this month's: the previous sum stands
    memory.balances(resolved, november)
    assert memory.previous(resolved, november) == {"project:p": Amounts(15, 0, 0)}
    memory.add_charge(charge("c0", datetime(2026, 10, 1, 3, tzinfo=UTC), Amounts(1, 0, 0)))  # inserted before
    memory.balances(resolved, november)
    assert memory.previous(resolved, november) == {"project:p": Amounts(16, 0, 0)}
