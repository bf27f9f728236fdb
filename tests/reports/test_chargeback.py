"""Shaping the ledger's sums into org → team → project → user: buckets, placement, subtotals (pure)."""

from __future__ import annotations

import pytest

from hpcpolicy.engine import Amounts
from hpcpolicy.ledger import AdjustmentKind
from hpcpolicy.ledger.reports import AdjustmentGroup, ChargeGroup, PeriodSums
from hpcpolicy.reports import Node, Placement, chargeback, month
from tests.reports.records import PLACEMENT

OCTOBER = month("2026-10")
GRANT, DEBIT = AdjustmentKind.GRANT, AdjustmentKind.DEBIT
REFUND, DEPOSIT = AdjustmentKind.REFUND, AdjustmentKind.DEPOSIT


@pytest.mark.parametrize(
    ("scope", "path"),
    [
        ("org:o1", ("o1",)),
        ("team:t1", ("o1", "t1")),
        ("team:gone", (None, "gone")),
        ("project:p3", ("o2", "t2", "p3")),
        ("project:p3#monthly", ("o2", "t2", "p3")),
        ("project:gone", (None, None, "gone")),
        ("project:p1/user:bob", ("o1", "t1", "p1", "bob")),
        ("project:p1/user:bob#gpu", ("o1", "t1", "p1", "bob")),
        ("user:bob", (None, None, None, "bob")),
        ("user:bob#default", (None, None, None, "bob")),
        ("service:jupyter", None),
        ("service:jupyter/user:bob", None),
        ("project:/user:bob", None),
        ("org:", None),
        ("nonsense", None),
    ],
)
def test_an_adjustment_counts_on_the_node_of_its_scope(scope: str, path: tuple[str | None, ...] | None) -> None:
    assert PLACEMENT.of(scope) == path


def group(user: str, path: tuple[str | None, str | None, str | None] = ("p1", "t1", "o1"), gpu_type: str | None = None,
          n: int = 1, cpu: float = 1.0, gpu: float = 0.0, cost: float = 1.0) -> ChargeGroup:  # fmt: skip
    project, team, org = path
    return ChargeGroup(org, team, project, user, gpu_type, n, cpu, gpu, cost)


def find(nodes: tuple[Node, ...], *names: str | None) -> Node:
    node = next(n for n in nodes if n.name == names[0])
    return find(node.children, *names[1:]) if len(names) > 1 else node


def test_charges_without_a_path_go_to_none_buckets_after_the_named_ones() -> None:
    sums = PeriodSums([group("zed", (None, None, None), cpu=5), group("bob", ("p2", "t1", "o1")),
                       group("amy", ("p1", "t1", "o1")), group("amy", ("p3", None, None), cpu=2)], [])  # fmt: skip
    report = chargeback(OCTOBER, sums, PLACEMENT)
    assert [o.name for o in report.orgs] == ["o1", None]
    assert [p.name for p in find(report.orgs, "o1", "t1").children] == ["p1", "p2"]
    assert find(report.orgs, None, None, None, "zed").totals.cpu_hours == 5
    assert find(report.orgs, None, None, "p3", "amy").totals.cpu_hours == 2  # a project recorded without its team
    assert report.totals.cpu_hours == 9 and report.totals.charges == 4
    assert find(report.orgs, None).path == (None,) and find(report.orgs, None, None, "p3", "amy").path == (
        None, None, "p3", "amy")  # fmt: skip


def test_gpu_hours_per_type_and_untyped_gpu_hours_are_kept() -> None:
    sums = PeriodSums([group("amy", gpu_type="h100", gpu=3), group("amy", gpu_type="a100", gpu=1),
                       group("amy", gpu=0.0), group("bob", gpu=2.0)], [])  # fmt: skip
    report = chargeback(OCTOBER, sums)
    assert report.gpu_types == ("a100", "h100", None)
    assert dict(find(report.orgs, "o1", "t1", "p1", "amy").totals.gpu_hours_by_type) == {"a100": 1, "h100": 3}
    assert dict(report.totals.gpu_hours_by_type) == {"a100": 1, "h100": 3, None: 2}
    assert report.totals.gpu_hours == 6


def test_adjustments_are_signed_and_counted_where_they_were_made() -> None:
    adjustments = [
        AdjustmentGroup("project:p1", GRANT, 2, 10.0, 1.0, 100.0),
        AdjustmentGroup("project:p1#monthly", DEBIT, 1, 4.0, 0.0, 40.0),
        AdjustmentGroup("team:t3", REFUND, 1, 0.0, 0.0, 7.0),  # a team without charges: its node is made
        AdjustmentGroup("project:p1/user:amy", DEPOSIT, 1, 1.0, 0.0, 1.0),
        AdjustmentGroup("user:amy", DEBIT, 1, 0.0, 0.0, 3.0),
        AdjustmentGroup("service:jupyter", DEBIT, 1, 0.0, 0.0, 5.0),
    ]
    report = chargeback(OCTOBER, PeriodSums([group("amy", cost=50.0)], adjustments), PLACEMENT)
    p1 = find(report.orgs, "o1", "t1", "p1")
    assert p1.adjusted_here == Amounts(-6.0, -1.0, -60.0)
    assert p1.totals.adjustments == Amounts(-7.0, -1.0, -61.0) and p1.totals.adjustment_count == 4
    assert p1.totals.net_cost == 50.0 - 61.0
    assert find(report.orgs, "o2", "t3").totals.adjustments == Amounts(0.0, 0.0, -7.0)
    assert find(report.orgs, "o2", "t3").children == ()
    assert find(report.orgs, None, None, None, "amy").totals.adjustments == Amounts(0.0, 0.0, 3.0)
    assert [(e.scope, e.amounts) for e in report.elsewhere] == [("service:jupyter", Amounts(0.0, 0.0, 5.0))]
    assert report.totals.adjustments == Amounts(-7.0, -1.0, -61.0 - 7.0 + 3.0 + 5.0)
    assert report.totals.adjustment_count == 7


def test_every_subtotal_is_its_childrens_sum_plus_what_was_adjusted_on_it() -> None:
    sums = PeriodSums(
        [group(u, path, gpu_type=t, cpu=c, gpu=c / 2, cost=c * 3)
         for c, (u, path, t) in enumerate([("amy", ("p1", "t1", "o1"), "a100"), ("bob", ("p1", "t1", "o1"), None),
                                           ("amy", ("p2", "t1", "o1"), "h100"), ("cy", ("p3", "t2", "o2"), None)])],
        [AdjustmentGroup("org:o1", GRANT, 1, 1.0, 2.0, 3.0), AdjustmentGroup("team:t2", DEBIT, 1, 1.0, 0.0, 9.0)],
    )  # fmt: skip
    report = chargeback(OCTOBER, sums, PLACEMENT)

    def check(node: Node) -> None:
        if node.children:
            for child in node.children:
                check(child)
            parts = [c.totals for c in node.children]
            assert node.totals.cpu_hours == sum(t.cpu_hours for t in parts)
            assert node.totals.cost == sum(t.cost for t in parts)
            assert node.totals.adjustments == sum((t.adjustments for t in parts), node.adjusted_here)

    for org in report.orgs:
        check(org)
    assert report.totals.cost == sum(o.totals.cost for o in report.orgs) == 18.0
    assert report.totals.net_cost == 18.0 - 3.0 + 9.0


def test_an_empty_period_is_an_empty_report() -> None:
    report = chargeback(OCTOBER, PeriodSums([], []), Placement())
    assert (report.orgs, report.elsewhere, report.gpu_types, report.totals.charges) == ((), (), (), 0)
