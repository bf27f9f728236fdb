"""Structural rules, checked on the source text with ``ast``.

The engine is a pure function: it imports no database, web, CLI or YAML library, reads no environment
and no clock. And no module grows past 400 lines.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "hpcpolicy"
ENGINE = SRC / "engine"
FORBIDDEN_IMPORTS = {"sqlalchemy", "fastapi", "typer", "yaml", "httpx"}
CLOCK_CALLS = {("datetime", "now"), ("datetime", "utcnow"), ("datetime", "today"), ("date", "today"),
               ("time", "time"), ("time", "time_ns"), ("time", "monotonic"), ("time", "perf_counter")}
MAX_LINES = 400


def _modules(root: Path) -> list[Path]:
    return sorted(root.rglob("*.py"))


def _rel(path: Path) -> str:
    return str(path.relative_to(SRC.parent))


def _impurities(tree: ast.AST) -> Iterator[str]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in FORBIDDEN_IMPORTS:
                    yield f"line {node.lineno}: import {alias.name}"
        elif isinstance(node, ast.ImportFrom) and node.module is not None:
            top = node.module.split(".")[0]
            if top in FORBIDDEN_IMPORTS:
                yield f"line {node.lineno}: from {node.module} import ..."
            for alias in node.names:
                if (top, alias.name) in {("os", "environ"), ("os", "getenv"), *CLOCK_CALLS}:
                    yield f"line {node.lineno}: from {node.module} import {alias.name}"
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            pair = (node.value.id, node.attr)
            if pair in {("os", "environ"), ("os", "getenv"), ("os", "environb")} or pair in CLOCK_CALLS:
                yield f"line {node.lineno}: {node.value.id}.{node.attr}"
        elif isinstance(node, ast.Attribute) and node.attr in {"now", "utcnow"}:
            yield f"line {node.lineno}: .{node.attr}"  # e.g. dt.datetime.now


def test_the_engine_tree_is_found() -> None:
    names = {p.name for p in _modules(ENGINE)}
    assert {"evaluate.py", "route.py", "windows.py", "quotas.py"} <= names


@pytest.mark.parametrize("path", _modules(ENGINE), ids=_rel)
def test_engine_module_is_pure(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    assert list(_impurities(tree)) == []


def test_the_purity_check_catches_what_it_should() -> None:
    sample = (
        "import os, yaml\nfrom sqlalchemy.orm import Session\nfrom time import time\nimport datetime as dt\n"
        "x = os.environ['A']\ny = os.getenv('B')\nz = datetime.now()\nw = dt.datetime.now()\nv = time.time()\n"
    )
    assert len(list(_impurities(ast.parse(sample)))) == 8


@pytest.mark.parametrize("path", _modules(SRC), ids=_rel)
def test_module_is_at_most_400_lines(path: Path) -> None:
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{_rel(path)} has {lines} lines"
