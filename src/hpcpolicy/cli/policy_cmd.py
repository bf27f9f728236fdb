"""``hpcpolicy policy check|test``: lint a policy file, run a policy's test cases."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from hpcpolicy.cli import render
from hpcpolicy.cli.common import (
    EXIT_INVALID,
    err,
    load_checked,
    out,
    read_document,
    refuse_problems,
    snapshot_of,
    validate,
)
from hpcpolicy.engine.windows import as_utc
from hpcpolicy.policy.cases import CaseFile, case_problems, run_cases

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


__all__ = ["app", "load_checked"]
