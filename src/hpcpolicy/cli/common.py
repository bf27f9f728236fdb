"""Helpers shared by commands: loading files with errors an admin can act on, and the exit codes.

Exit codes: 0 success; 1 the input (policy, request, usage, test cases) is invalid or a policy test
failed; 2 wrong command-line usage (Typer's own); 3 ``--fail-on-deny`` and the decision is a denial.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import typer
import yaml
from pydantic import BaseModel, ValidationError
from rich.console import Console

from hpcpolicy.engine import PolicySnapshot, compile_policy
from hpcpolicy.policy import LoadedPolicy, PolicyError, load_policy
from hpcpolicy.policy.yamlguard import YamlLimitError, safe_load

EXIT_INVALID = 1
EXIT_DENIED = 3

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

M = TypeVar("M", bound=BaseModel)


def fail(message: str, code: int = EXIT_INVALID) -> NoReturn:
    err.print(f"[bold red]error:[/] {message}")
    raise typer.Exit(code)


def load_checked(path: Path | None) -> LoadedPolicy:
    """Load a policy (the packaged example when ``path`` is None) or exit 1 listing every problem."""
    import os

    try:
        loaded = load_policy(path, env=os.environ)
    except PolicyError as exc:
        for issue in exc.issues:
            err.print(str(issue), style="red" if issue.severity == "error" else "yellow", markup=False)
        errors = sum(1 for i in exc.issues if i.severity == "error")
        fail(f"{errors} error(s) in {path or 'the example policy'}")
    for warning in loaded.warnings:
        err.print(str(warning), style="yellow", markup=False)
    return loaded


def snapshot_of(path: Path | None) -> PolicySnapshot:
    loaded = load_checked(path)
    return compile_policy(loaded.policy, loaded.version)


def read_document(path: Path, what: str) -> Any:
    """Parse a JSON or YAML file (JSON is YAML); exit 1 with the file and line on a syntax error, or when
    the YAML nests too deep or expands aliases too far (see :mod:`hpcpolicy.policy.yamlguard`)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        fail(f"cannot read {what} {path}: {exc.strerror}")
    try:
        if path.suffix == ".json":
            return json.loads(text)
        return safe_load(text)
    except json.JSONDecodeError as exc:
        fail(f"{path}:{exc.lineno}: invalid JSON: {exc.msg}")
    except RecursionError:  # json's decoder recurses once per level
        fail(f"{path}: invalid JSON: nested too deeply")
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        kind = "YAML refused" if isinstance(exc, YamlLimitError) else "invalid YAML"
        fail(f"{path}:{mark.line + 1 if mark else '?'}: {kind}: {getattr(exc, 'problem', exc)}")


def refuse_problems(problems: list[str], where: str) -> None:
    """Exit 1 printing ``where: problem`` for each problem; return if there are none."""
    for problem in problems:
        err.print(f"{where}: {problem}", style="red", markup=False)
    if problems:
        fail(f"{len(problems)} problem(s) in {where}")


def validate(model: type[M], data: Any, where: str) -> M:
    """Validate ``data`` against ``model``; exit 1 naming each bad field as ``where: path: message``."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        for e in exc.errors():
            path = ".".join(str(p) for p in e["loc"]) or "(document)"
            err.print(f"{where}: {path}: {e['msg']}", style="red", markup=False)
        fail(f"invalid {where}")
