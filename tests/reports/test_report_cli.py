"""``hpcpolicy report chargeback``: the three formats from a data directory's ledger, usage errors (exit 2)
before the ledger is opened, an unreachable ledger (exit 1)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hpcpolicy.cli.main import app
from hpcpolicy.engine import Amounts
from tests.cli.conftest import clean_service_env
from tests.ledger.conftest import sqlite_ledger
from tests.reports.records import NOVEMBER, OCTOBER, adjustment, charge, record

runner = CliRunner()


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    clean_service_env(monkeypatch)
    ledger = sqlite_ledger(tmp_path)
    record(ledger, [charge("c1", OCTOBER, Amounts(3.0, 0.0, 6.0), user="<script>", path=("wgs-cohort", "genomics",
                                                                                         "biocenter")),
                    charge("c2", NOVEMBER, Amounts(1.0, 0.0, 1.0))],
           [adjustment("a1", "org:biocenter", amounts=Amounts(0.0, 0.0, 2.0))])  # fmt: skip
    ledger.engine.dispose()
    return tmp_path


def report(data_dir: Path, *args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["report", "chargeback", "--data-dir", str(data_dir), *args])
    return result.exit_code, result.output


def test_json_by_default(data_dir: Path) -> None:
    code, output = report(data_dir, "--period", "2026-10")
    assert code == 0, output
    body = json.loads(output)
    assert (body["totals"]["charges"], body["totals"]["cost"], body["totals"]["net_cost"]) == (1, 6.0, 4.0)


def test_csv_and_html_to_stdout_or_a_file(data_dir: Path, tmp_path: Path) -> None:
    code, output = report(data_dir, "--period", "2026-10", "--format", "csv")
    assert code == 0
    table = list(csv.DictReader(io.StringIO(output, newline="")))
    assert [row["level"] for row in table] == ["org", "team", "project", "user", "total"]
    assert table[3]["user"] == "<script>" and float(table[-1]["cost"]) == 6.0
    code, output = report(data_dir, "--period", "2026-10", "--format", "html", "-o", str(tmp_path / "r.html"))
    assert (code, output) == (0, "")
    page = (tmp_path / "r.html").read_text()
    assert "&lt;script&gt;" in page and "<script>" not in page
    code, output = report(data_dir, "--from", "2026-10-01", "--to", "2026-11-01", "--project", "wgs-cohort")
    assert code == 0 and json.loads(output)["totals"]["charges"] == 1 and json.loads(output)["project"] == "wgs-cohort"


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--period", "2026-13"], "does not exist"),
        (["--period", "10000-01"], "YYYY-MM"),
        (["--period", "2026-1"], "YYYY-MM"),
        (["--period", "2026-1\x00"], "YYYY-MM"),
        (["--period", "x" * 10_000], "10000 characters"),
        (["--from", "2026-10-01"], "--period YYYY-MM, or --from and --to"),
        ([], "--period YYYY-MM, or --from and --to"),
        (["--from", "2026-10-02", "--to", "2026-10-01"], "before from"),
        (["--period", "2026-10", "--project", "p\x00"], "control character"),
        (["--period", "2026-10", "--format", "xml"], "xml"),
    ],
)
def test_bad_arguments_are_usage_errors_before_the_ledger_is_opened(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], says: str
) -> None:
    clean_service_env(monkeypatch)
    code, output = report(tmp_path / "nothing-here", *args)
    assert code == 2, output
    assert says in " ".join(output.replace("│", " ").split()) and len(output) < 3_000  # rich boxes wrap it
    assert not (tmp_path / "nothing-here").exists()  # nothing opened, nothing created


def test_an_unreachable_ledger_is_exit_1_naming_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    clean_service_env(monkeypatch)
    result = runner.invoke(app, ["report", "chargeback", "--period", "2026-10", "--database-url",
                                 "postgresql+psycopg://nobody@127.0.0.1:1/none"])  # fmt: skip
    assert result.exit_code == 1
    assert "cannot reach the ledger database" in result.output and "127.0.0.1:1" in result.output


def test_an_unwritable_output_is_exit_1(data_dir: Path, tmp_path: Path) -> None:
    code, output = report(data_dir, "--period", "2026-10", "-o", str(tmp_path / "missing" / "r.json"))
    assert code == 1 and "cannot write" in output
