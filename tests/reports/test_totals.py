"""The report's totals are the ledger's: every subtotal and the grand total equal direct sums of the month's
charges and adjustments, on every backend, for random ledgers (hypothesis).

Amounts are multiples of 1/8 below 2**20, so every sum is exact in any order: the test asserts equality,
not closeness, and a charge counted twice or missed cannot hide in a tolerance.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hpcpolicy.engine import Amounts
from hpcpolicy.ledger import Adjustment, AdjustmentKind, Charge
from hpcpolicy.ledger.memory import MemoryLedger
from hpcpolicy.ledger.rules import ADJUSTMENT_SIGN
from hpcpolicy.reports import Chargeback, Node, Totals, chargeback, month
from tests.dbservers import truncate
from tests.reports.records import NOVEMBER, OCTOBER, PLACEMENT, adjustment, charge, record

US = timedelta(microseconds=1)
PATHS = [("p1", "t1", "o1"), ("p2", "t1", "o1"), ("p3", "t2", "o2"), ("p1", "t9", "o1"), (None, None, None),
         ("p4", None, None)]  # fmt: skip
#: Where each adjusted scope counts, written out by hand (the report reads it from the policy's placement).
SCOPES: dict[str, tuple[str | None, ...] | None] = {
    "org:o1": ("o1",), "team:t1": ("o1", "t1"), "team:t3": ("o2", "t3"), "project:p1": ("o1", "t1", "p1"),
    "project:p1#monthly": ("o1", "t1", "p1"), "project:p1/user:amy": ("o1", "t1", "p1", "amy"),
    "user:bob": (None, None, None, "bob"), "project:p4": (None, None, "p4"), "service:jupyter": None,
}  # fmt: skip

eighths = st.integers(0, 8 * 2**10).map(lambda n: n / 8)
moments = st.one_of(
    st.sampled_from([OCTOBER, OCTOBER - US, NOVEMBER, NOVEMBER - US]),
    st.integers(-5 * 86400, 35 * 86400).map(lambda s: OCTOBER + timedelta(seconds=s)),
)
amounts = st.builds(Amounts, eighths, eighths, eighths)
charges = st.lists(
    st.tuples(st.sampled_from(["amy", "bob", "<b>"]), st.sampled_from(PATHS), st.sampled_from([None, "a100", "h100"]),
              amounts, st.none() | st.tuples(eighths, eighths), moments),
    max_size=25,
)  # fmt: skip
adjustments = st.lists(st.tuples(st.sampled_from(sorted(SCOPES)), st.sampled_from(AdjustmentKind), amounts, moments),
                       max_size=12)  # fmt: skip


@pytest.fixture
def empty(ledger: object) -> Callable[[], object]:
    """An empty ledger of the backend under test, for each example."""
    if isinstance(ledger, MemoryLedger):
        return MemoryLedger
    engine = ledger.engine  # type: ignore[attr-defined]

    def emptied() -> object:
        truncate(engine)
        return ledger

    return emptied


@settings(deadline=None, max_examples=30, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(charges, adjustments)
def test_every_subtotal_and_the_total_are_the_ledgers_sums(
    empty: Callable[[], object], charges: list[tuple[object, ...]], adjustments: list[tuple[object, ...]]
) -> None:
    made = [charge(f"c{i}", at, a, user=u, path=p, gpu_type=t, raw=raw)  # type: ignore[arg-type]
            for i, (u, p, t, a, raw, at) in enumerate(charges)]  # fmt: skip
    adjusted = [adjustment(f"a{i}", s, k, a, at) for i, (s, k, a, at) in enumerate(adjustments)]  # type: ignore[arg-type]
    ledger = empty()
    record(ledger, made, adjusted)
    period = month("2026-10")
    report = chargeback(period, ledger.period_sums(period.start, period.end), PLACEMENT)  # type: ignore[attr-defined]
    in_month = [c for c in made if OCTOBER <= c.at < NOVEMBER]
    adjusted_in_month = [a for a in adjusted if OCTOBER <= a.at < NOVEMBER]
    assert report.totals == expected((), in_month, adjusted_in_month)
    for node in walk(report):
        assert node.totals == expected(node.path, in_month, adjusted_in_month), node.path
    leaves = {n.path for n in walk(report) if n.level == "user"}
    assert {(c.org, c.team, c.project, c.user_id) for c in in_month} <= leaves
    outside = sum(1 for a in adjusted_in_month if SCOPES[a.scope] is None)
    assert sum(e.count for e in report.elsewhere) == outside


def test_a_charge_at_the_months_first_instant_counts_and_one_at_the_next_months_does_not(ledger) -> None:
    record(ledger, [charge("first", OCTOBER, Amounts(1.0, 0.0, 1.0)), charge("next", NOVEMBER, Amounts(2.0, 0.0, 2.0)),
                    charge("last", NOVEMBER - US, Amounts(4.0, 0.0, 4.0))])  # fmt: skip
    period = month("2026-10")
    report = chargeback(period, ledger.period_sums(period.start, period.end), PLACEMENT)
    assert (report.totals.charges, report.totals.cpu_hours, report.totals.cost) == (2, 5.0, 5.0)
    november = month("2026-11")
    assert chargeback(november, ledger.period_sums(november.start, november.end)).totals.cost == 2.0


def walk(report: Chargeback) -> list[Node]:
    found, stack = [], list(report.orgs)
    while stack:
        node = stack.pop()
        found.append(node)
        stack.extend(node.children)
    return found


def expected(path: tuple[str | None, ...], charges: list[Charge], adjustments: list[Adjustment]) -> Totals:
    """Direct sums of the records under ``path`` (all of them for ``()``), as a report's totals."""
    mine = [c for c in charges if (c.org, c.team, c.project, c.user_id)[: len(path)] == path]
    raw = [c.raw_hours or (c.amounts.cpu_hours, c.amounts.gpu_hours) for c in mine]
    by_type: dict[str | None, float] = {}
    for c, (_, gpu) in zip(mine, raw, strict=True):
        if c.gpu_type is not None or gpu:
            by_type[c.gpu_type] = by_type.get(c.gpu_type, 0.0) + gpu
    counted = [a for a in adjustments if path == () or ((where := SCOPES[a.scope]) and where[: len(path)] == path)]
    signed = [(ADJUSTMENT_SIGN[a.kind], a.amounts) for a in counted]
    return Totals(
        charges=len(mine),
        cpu_hours=sum(cpu for cpu, _ in raw),
        gpu_hours=sum(gpu for _, gpu in raw),
        gpu_hours_by_type=by_type,
        cost=sum(c.amounts.cost for c in mine),
        adjustments=Amounts(
            sum(s * a.cpu_hours for s, a in signed),
            sum(s * a.gpu_hours for s, a in signed),
            sum(s * a.cost for s, a in signed),
        ),
        adjustment_count=len(counted),
    )
