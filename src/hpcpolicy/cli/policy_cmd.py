"""``hpcpolicy policy check|test|migrate``: lint a policy file, run a policy's test cases, move it to v2."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from hpcpolicy.atomicfile import write_atomically
from hpcpolicy.cli import render
from hpcpolicy.cli.common import (
    EXIT_INVALID,
    err,
    fail,
    load_checked,
    out,
    read_document,
    refuse_problems,
    snapshot_of,
    validate,
)
from hpcpolicy.engine.windows import as_utc
from hpcpolicy.policy import PolicyError
from hpcpolicy.policy.cases import CaseFile, case_problems, run_cases
from hpcpolicy.policy.migrate import migrate as migrate_text
from hpcpolicy.policy.schema import API_VERSION

app = typer.Typer(help="Check and test policy files.", no_args_is_help=True)


@app.command("check")
def check(
    file: Annotated[Path, typer.Argument(help="Policy file (YAML).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Validate a policy; exit 1 with every error (file:line path: message)."""
    loaded = load_checked(file)
    if as_json:
        warnings = [w.to_dict() for w in loaded.warnings]
        out.print_json(json.dumps({"valid": True, "version": loaded.version, "warnings": warnings}))
    else:
        p = loaded.policy
        partitions = sum(len(c.partitions) for c in p.clusters.values())
        projects = sum(len(t.projects) for o in p.orgs.values() for t in o.teams.values())
        out.print(
            f"[green]ok[/] {file}: {loaded.version} — {len(p.clusters)} cluster(s), {partitions} partition(s), "
            f"{projects} project(s), {len(p.users)} user(s), {len(loaded.warnings)} warning(s)"
        )


@app.command("test")
def test(
    file: Annotated[Path, typer.Argument(help="Test-case file (YAML): cases with request, usage and expect.")],
    policy: Annotated[Path | None, typer.Option(help="Policy to test (default: the file's `policy:` key).")] = None,
    now: Annotated[datetime | None, typer.Option(help="Evaluate at this time (default: the file's `now:`).")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="List passing cases too.")] = False,
) -> None:
    """Run policy test cases and print PASS/FAIL per case; exit 1 on any failure."""
    cases = validate(CaseFile, read_document(file, "test file"), str(file))
    policy_path = policy or (file.parent / cases.policy if cases.policy else None)
    if policy_path is None:
        err.print("[red]error:[/] no policy: pass --policy or set `policy:` in the test file")
        raise typer.Exit(EXIT_INVALID)
    snap = snapshot_of(policy_path)
    refuse_problems(case_problems(cases, snap), str(file))
    results = run_cases(cases, snap, as_utc(now) if now else None)
    render.case_results(out, results, verbose)
    if not all(r.passed for r in results):
        raise typer.Exit(EXIT_INVALID)


@app.command("migrate")
def migrate(
    file: Annotated[Path, typer.Argument(help="Policy file (YAML) to move to the current apiVersion.")],
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write here (default: stdout).")] = None,
    in_place: Annotated[bool, typer.Option("--in-place", help="Replace FILE itself.")] = False,
) -> None:
    """Rewrite FILE's apiVersion to hpcpolicy/v2, keeping comments and layout; the result is validated.

    FILE must load first (exit 1 listing its errors). Only the apiVersion value changes. A file already at
    v2 is left alone (with -o or to stdout, its text is written as it is). Writes are atomic.
    """
    if output is not None and in_place:
        fail("give -o OUT or --in-place, not both", code=2)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        fail(f"cannot read policy file {file}: {exc.strerror}")
    try:
        result = migrate_text(text, str(file))
    except PolicyError as exc:
        for issue in exc.issues:
            err.print(str(issue), style="red" if issue.severity == "error" else "yellow", markup=False)
        fail(f"{file} was not migrated: fix the error(s) above first")
    for warning in result.policy.warnings:
        err.print(str(warning), style="yellow", markup=False)
    if not result.changed:
        err.print(f"{file} is already {API_VERSION}: nothing to change", markup=False)
    target = file if in_place else output
    if target is None:
        sys.stdout.write(result.text)
    elif result.changed or target != file:
        try:
            write_atomically(target, result.text)
        except OSError as exc:
            fail(f"cannot write {target}: {exc.strerror}")
        if result.changed:
            err.print(f"{file} migrated to {API_VERSION}: wrote {target} ({result.policy.version})", markup=False)


__all__ = ["app", "load_checked"]
