"""The report's three forms: CSV parses back to the report's figures, HTML shows hostile names as text,
JSON has the shape the OpenAPI document promises."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import orjson

from hpcpolicy.api.report_dto import ChargebackOut
from hpcpolicy.engine import Amounts
from hpcpolicy.ledger import AdjustmentKind
from hpcpolicy.ledger.reports import AdjustmentGroup, ChargeGroup, PeriodSums
from hpcpolicy.reports import Chargeback, chargeback, month
from hpcpolicy.reports.formats import filename, rows, to_csv, to_html, to_json
from tests.reports.records import PLACEMENT

AT = datetime(2026, 11, 2, 8, 30, tzinfo=UTC)
NASTY = "<script>alert('x')</script>"


def report(project: str | None = None) -> Chargeback:
    sums = PeriodSums(
        [
            ChargeGroup("o1", "t1", "p1", NASTY, "a100", 3, 12.5, 0.1 + 0.2, 99.99),
            ChargeGroup("o1", "t1", "p1", "=cmd|' /C calc'!A0", None, 1, 1.0, 0.0, 2.0),
            ChargeGroup(None, None, None, "bob", "h100", 2, 1e-7, 3.0, 1e12),
        ],
        [AdjustmentGroup("project:p1", AdjustmentKind.GRANT, 1, 1.0, 2.0, 3.0),
         AdjustmentGroup("service:jupyter", AdjustmentKind.DEBIT, 1, 0.0, 0.0, 5.0)],
    )  # fmt: skip
    return chargeback(month("2026-10"), sums, PLACEMENT, project)


def test_csv_parses_back_to_every_figure_of_the_report() -> None:
    r = report()
    table = list(csv.DictReader(io.StringIO(to_csv(r), newline="")))
    assert len(table) == len(list(rows(r)))
    total = table[-1]
    assert total["level"] == "total"
    assert float(total["gpu_hours"]) == r.totals.gpu_hours and float(total["cost"]) == r.totals.cost
    assert float(total["gpu_hours:a100"]) == 0.1 + 0.2  # exactly, not rounded for display
    assert float(total["net_cost"]) == r.totals.net_cost and float(total["cpu_hours"]) == 12.5 + 1.0 + 1e-7
    users = {row["user"]: row for row in table if row["level"] == "user"}
    assert users[NASTY]["scope"] == f"project:p1/user:{NASTY}"  # quotes and commas survive
    assert "'=cmd|' /C calc'!A0" in users  # a formula is text in a spreadsheet
    assert users["bob"]["org"] == "(none)" and users["bob"]["scope"] == "user:bob"
    project = next(row for row in table if row["level"] == "project" and row["project"] == "p1")
    assert (float(project["adjustment_cost"]), float(project["charges"])) == (-3.0, 4)
    assert [row["scope"] for row in table if row["level"] == "scope"] == ["service:jupyter"]
    assert [row["level"] for row in table[:4]] == ["org", "team", "project", "user"]  # parents first


def test_html_is_one_escaped_page() -> None:
    page = to_html(report(), AT)
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert "<script" not in page and "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in page
    assert "http" not in page.replace("http-equiv", "")  # standalone: nothing fetched from elsewhere
    assert "Chargeback 2026-10" in page and "GPU-hours a100" in page and "(none)" in page


def test_json_has_the_documented_shape() -> None:
    body = orjson.loads(to_json(report(), AT))
    ChargebackOut.model_validate(body, strict=True)
    assert body["orgs"][1]["org"] is None and body["orgs"][1]["teams"][0]["projects"][0]["project"] is None
    assert body["totals"]["gpu_hours_by_type"] == {"a100": 0.1 + 0.2, "h100": 3.0}
    assert body["orgs"][0]["teams"][0]["projects"][0]["adjusted_here"] == {"cpu_hours": -1.0, "gpu_hours": -2.0,
                                                                           "cost": -3.0}  # fmt: skip
    assert body["elsewhere"] == [
        {"scope": "service:jupyter", "adjustments": {"count": 1, "cpu_hours": 0.0, "gpu_hours": 0.0, "cost": 5.0}}
    ]
    assert (body["period"], body["start"], body["generated_at"]) == (
        "2026-10", "2026-10-01T00:00:00+00:00", "2026-11-02T08:30:00+00:00")  # fmt: skip
    assert "before the policy's weights" in body["notes"]["cpu_hours"]


def test_a_file_name_holds_no_character_a_header_or_a_file_system_could_misread() -> None:
    assert filename(report(), "csv") == "chargeback-2026-10.csv"
    assert filename(report('a"b/../c\\d;e'), "csv") == "chargeback-2026-10-a_b_.._c_d_e.csv"
    assert filename(report("x" * 191), "html").endswith("x.html") and len(filename(report("x" * 191), "csv")) < 130


def test_an_empty_report_has_its_total_row_and_columns() -> None:
    empty = chargeback(month("2026-10"), PeriodSums([], []))
    table = list(csv.reader(io.StringIO(to_csv(empty), newline="")))
    assert table[0][:3] == ["level", "scope", "org"] and table[1][0] == "total" and len(table) == 2
    assert Amounts() == empty.totals.adjustments and "Total" in to_html(empty, AT)
