"""The chargeback report as JSON, CSV or a standalone HTML page: one place, used by the CLI and the API.

- **JSON**: the hierarchy as nested objects (``orgs[].teams[].projects[].users[]``), each with its
  ``totals``; names that were not recorded are ``null`` (unambiguous, unlike any string).
- **CSV**: a row per node, parent before children (``level`` says which: org, team, project, user), the
  grand total last; a missing name is ``(none)``. Numbers are written exactly (Python's shortest repr), so
  the file parses back to the report's floats. A name starting with ``=``, ``+``, ``-``, ``@``, tab or CR is
  prefixed with ``'``, so a spreadsheet shows it as text instead of running it as a formula.
- **HTML**: the same rows in one page with its own styles, rendered by Jinja2 with autoescaping (a user
  named ``<script>`` is shown, not run).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from datetime import datetime
from typing import Any, Literal, NamedTuple

import orjson
from jinja2 import Environment, PackageLoader, StrictUndefined

from hpcpolicy.engine.usage import Amounts
from hpcpolicy.reports.chargeback import Chargeback, Node, Totals

Format = Literal["json", "csv", "html"]
FORMATS: tuple[Format, ...] = ("json", "csv", "html")
MEDIA_TYPES: dict[Format, str] = {
    "json": "application/json",
    "csv": "text/csv; charset=utf-8",
    "html": "text/html; charset=utf-8",
}
NONE = "(none)"
#: What the figures are, said in every form of the report.
NOTES = {
    "cpu_hours": "actual CPU-hours used (before the policy's weights)",
    "gpu_hours": "actual GPU-hours used (before the policy's weights), also per GPU type",
    "cost": "cost as charged (priced at the rates in force when each job was admitted)",
    "adjustments": "grants, refunds and deposits negative, debits positive, as budgets count them; amounts in "
    "budget units (weighted hours)",
    "net_cost": "cost plus the adjustments' cost",
    "period": "charges and adjustments dated in [start, end), UTC",
}
_CHILDREN = {"org": "teams", "team": "projects", "project": "users"}
_FORMULA = ("=", "+", "-", "@", "\t", "\r")
_UNSAFE_IN_FILENAME = re.compile(r"[^A-Za-z0-9._-]+")
_templates = Environment(
    loader=PackageLoader("hpcpolicy.reports", "templates"), autoescape=True, undefined=StrictUndefined
)


def render(report: Chargeback, fmt: Format, generated_at: datetime) -> bytes:
    if fmt == "json":
        return to_json(report, generated_at)
    if fmt == "csv":
        return to_csv(report).encode()
    return to_html(report, generated_at).encode()


def filename(report: Chargeback, fmt: Format) -> str:
    """``chargeback-2026-10.csv`` (``chargeback-2026-10-<project>.csv`` for one project), in the characters
    every file system and a ``Content-Disposition`` header take as they are."""
    stem = f"chargeback-{report.period.label}" + (f"-{report.project}" if report.project else "")
    return _UNSAFE_IN_FILENAME.sub("_", stem)[:120] + f".{fmt}"


# JSON


def to_json(report: Chargeback, generated_at: datetime) -> bytes:
    return orjson.dumps(as_dict(report, generated_at))


def as_dict(report: Chargeback, generated_at: datetime) -> dict[str, Any]:
    p = report.period
    return {
        "report": "chargeback",
        "period": p.label,
        "start": p.start.isoformat(),
        "end": p.end.isoformat(),
        "project": report.project,
        "generated_at": generated_at.isoformat(),
        "notes": NOTES,
        "gpu_types": [_name(t) for t in report.gpu_types],
        "totals": _totals(report.totals),
        "orgs": [_node(n) for n in report.orgs],
        "elsewhere": [{"scope": e.scope, "adjustments": _amounts(e.amounts, e.count)} for e in report.elsewhere],
    }


def _node(node: Node) -> dict[str, Any]:
    out: dict[str, Any] = {node.level: node.name, "totals": _totals(node.totals)}
    if node.level != "user":
        out["adjusted_here"] = _amounts(node.adjusted_here)
        out[_CHILDREN[node.level]] = [_node(child) for child in node.children]
    return out


def _totals(t: Totals) -> dict[str, Any]:
    return {
        "charges": t.charges,
        "cpu_hours": t.cpu_hours,
        "gpu_hours": t.gpu_hours,
        "gpu_hours_by_type": {_name(k): v for k, v in t.gpu_hours_by_type.items()},
        "cost": t.cost,
        "adjustments": _amounts(t.adjustments, t.adjustment_count),
        "net_cost": t.net_cost,
    }


def _amounts(a: Amounts, count: int | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {} if count is None else {"count": count}
    return out | {"cpu_hours": a.cpu_hours, "gpu_hours": a.gpu_hours, "cost": a.cost}


# Rows (CSV and HTML)


class Row(NamedTuple):
    level: str  # org, team, project, user; "scope" (an adjusted scope outside the org tree); "total"
    scope: str  # the node's scope id (org:o, team:t, project:p, project:p/user:u, user:u); "" for (none)
    names: tuple[str, str, str, str]  # org, team, project, user ("" below the row's level)
    totals: Totals


def rows(report: Chargeback) -> Iterator[Row]:
    """Every node, parent before its children, then adjustments outside the tree, then the grand total."""
    stack = list(reversed(report.orgs))
    while stack:
        node = stack.pop()
        names = tuple(NONE if n is None else n for n in node.path) + ("",) * (4 - len(node.path))
        yield Row(node.level, _scope(node), names, node.totals)  # type: ignore[arg-type]
        stack.extend(reversed(node.children))
    for e in report.elsewhere:
        yield Row("scope", e.scope, ("", "", "", ""), Totals(adjustments=e.amounts, adjustment_count=e.count))
    yield Row("total", "", ("", "", "", ""), report.totals)


def _scope(node: Node) -> str:
    if node.name is None:
        return ""
    if node.level == "user":
        project = node.path[2]
        return f"user:{node.name}" if project is None else f"project:{project}/user:{node.name}"
    return f"{node.level}:{node.name}"


def header(report: Chargeback) -> list[str]:
    return [
        "level", "scope", "org", "team", "project", "user", "charges", "cpu_hours", "gpu_hours",
        *(f"gpu_hours:{_name(t)}" for t in report.gpu_types),
        "cost", "adjustment_cpu_hours", "adjustment_gpu_hours", "adjustment_cost", "net_cost",
    ]  # fmt: skip


def figures(report: Chargeback, t: Totals) -> list[float]:
    """A row's numbers in :func:`header`'s order (after the names)."""
    a = t.adjustments
    by_type = [t.gpu_hours_by_type.get(gpu_type, 0.0) for gpu_type in report.gpu_types]
    return [t.charges, t.cpu_hours, t.gpu_hours, *by_type, t.cost, a.cpu_hours, a.gpu_hours, a.cost, t.net_cost]


def to_csv(report: Chargeback) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([_cell(h) for h in header(report)])
    for row in rows(report):
        writer.writerow([row.level, _cell(row.scope), *map(_cell, row.names), *figures(report, row.totals)])
    return buffer.getvalue()


def _cell(text: str) -> str:
    return "'" + text if text.startswith(_FORMULA) else text


def _name(name: str | None) -> str:
    return NONE if name is None else name


# HTML


def to_html(report: Chargeback, generated_at: datetime) -> str:
    template = _templates.get_template("chargeback.html")
    return template.render(
        report=report,
        generated_at=generated_at,
        notes=NOTES,
        gpu_types=[_name(t) for t in report.gpu_types],
        rows=[(row, figures(report, row.totals)) for row in rows(report)],
    )
