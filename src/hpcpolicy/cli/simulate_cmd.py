"""``hpcpolicy simulate``: replay a workload trace through a policy and a scheduler model, report the outcome.

Parses flags, loads inputs with errors that name file and line, runs :mod:`hpcpolicy.simulate`, prints a
summary, and writes the JSON and HTML reports together or not at all. Exit 1 for bad input (trace,
policy, mapping, unknown capacity), 2 for a bad command line.
"""

from __future__ import annotations

import gc
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from hpcpolicy.adapters.traces import TraceError
from hpcpolicy.cli.common import err, fail, load_checked, out
from hpcpolicy.service.context import QueueSettings
from hpcpolicy.simulate.clock import TraceClock
from hpcpolicy.simulate.identity import IdentityMap, MappingError
from hpcpolicy.simulate.report import render_html, report_data, write_all
from hpcpolicy.simulate.report.text import fairness_tables, summary_rows
from hpcpolicy.simulate.requests import RequestError
from hpcpolicy.simulate.run import Options, RunResult, Variant, run_variant
from hpcpolicy.simulate.scheduler import MODELS
from hpcpolicy.simulate.source import Trace, TraceFormatError, read_trace

EXIT_USAGE = 2


class Format(StrEnum):
    auto = "auto"
    swf = "swf"
    sacct = "sacct"
    pbs = "pbs"


class Scheduler(StrEnum):
    fifo = "fifo"
    easy = "easy"
    fairshare = "fairshare"


class Duplicates(StrEnum):
    first = "first"
    last = "last"


def simulate(
    trace: Annotated[Path, typer.Argument(help="SWF, sacct --parsable2 or PBS/Torque accounting log (.gz ok).")],
    fmt: Annotated[Format, typer.Option("--format", help="Trace format; auto tells them apart.")] = Format.auto,
    policy: Annotated[Path | None, typer.Option(help="Policy file every job is decided against.")] = None,
    no_policy: Annotated[bool, typer.Option("--no-policy", help="Scheduling alone: every job is admitted.")] = False,
    scheduler: Annotated[
        Scheduler,
        typer.Option(help="Scheduler model: fifo, easy (EASY backfill), fairshare (EASY over fair-share priority)."),
    ] = Scheduler.easy,
    queue: Annotated[
        bool | None,
        typer.Option(
            "--queue/--no-queue",
            help="Hold a job the policy refuses only for a concurrency cap (max_jobs, max_gpus) and decide it "
            "again, in priority order, when a job on that cap ends, instead of counting it denied; held time "
            "counts in its wait. Default: on with --scheduler fairshare, off otherwise; --compare runs alike.",
        ),
    ] = None,
    queue_ttl_hours: Annotated[
        float, typer.Option(min=0.0, max=87600.0, help="How long a held job waits at most (the queue's TTL).")
    ] = QueueSettings().ttl.total_seconds() / 3600,
    priority_calc_minutes: Annotated[
        float,
        typer.Option(
            min=0.0, max=525600.0, help="Recompute fair-share factors at most this often (Slurm's PriorityCalcPeriod)."
        ),
    ] = 5.0,
    capacity: Annotated[int | None, typer.Option(min=1, help="Processors (default: the trace header).")] = None,
    mapping: Annotated[Path | None, typer.Option(help="Identity mapping (YAML); default u<id>, g<id>.")] = None,
    lenient: Annotated[bool, typer.Option(help="Skip malformed trace lines (counted in the report).")] = False,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the report as JSON here.")] = None,
    html_out: Annotated[Path | None, typer.Option("--html", help="Write the report as one HTML page.")] = None,
    compare: Annotated[
        str | None,
        typer.Option(help="A second run side by side: fifo, easy, fairshare, no-policy, or another policy file."),
    ] = None,
    requested_time_field: Annotated[int, typer.Option(help="SWF field holding the requested time (Theta: 6).")] = 9,
    columns: Annotated[str | None, typer.Option(help="sacct without header: the --format list (a,b,c).")] = None,
    duplicates: Annotated[Duplicates, typer.Option(help="PBS: keep the first or last E record of a job id.")] = (
        Duplicates.first
    ),
    start: Annotated[
        datetime | None, typer.Option(help="UTC instant of trace time 0 (default: SWF UnixStartTime, else the epoch).")
    ] = None,
    lien_ttl_hours: Annotated[float, typer.Option(min=0.0, help="Hours a lien waits for its job to start.")] = 24.0,
    kill_at_limit: Annotated[bool, typer.Option(help="Jobs stop at their requested time.")] = True,
    progress: Annotated[bool, typer.Option(help="Progress bar (only shown on a terminal).")] = True,
) -> None:
    """Replay a workload trace through a policy and a FIFO, EASY or fair-share scheduler on a virtual clock."""
    if no_policy == (policy is not None):
        fail("pass exactly one of --policy FILE and --no-policy", EXIT_USAGE)
    if queue and policy is None:
        fail("--queue holds jobs the policy refuses; it needs --policy FILE", EXIT_USAGE)
    for target in (json_out, html_out):
        if target is not None and not target.parent.is_dir():
            fail(f"cannot write {target}: directory {target.parent} does not exist")
    loaded = load_checked(policy) if policy is not None else None
    held = queue if queue is not None else scheduler is Scheduler.fairshare
    variants = _variants(Variant(scheduler.value, loaded, str(policy) if policy else None, held), compare)
    identities = _identities(mapping)
    data = _read(trace, fmt, lenient, requested_time_field, columns, duplicates)
    size = capacity or data.capacity
    if size is None:
        fail(f"{trace}: the trace gives no machine size (MaxProcs/MaxNodes); pass --capacity N")
    epoch = start.replace(tzinfo=start.tzinfo or UTC).timestamp() if start is not None else data.epoch
    clock = TraceClock(epoch)
    options = Options(
        size,
        clock,
        identities,
        timedelta(hours=lien_ttl_hours),
        kill_at_limit,
        priority_calc_minutes * 60.0,
        replace(QueueSettings(), ttl=timedelta(hours=queue_ttl_hours)),
    )
    # The trace stays loaded for the whole replay: keep the collector from re-scanning it (~7 % faster).
    gc.collect()
    gc.freeze()
    try:
        results = [_run(data, variant, options, progress) for variant in variants]
    finally:
        gc.unfreeze()
    report = report_data(data, results, clock)
    files: dict[Path, str] = {}
    if json_out is not None:
        files[json_out] = json.dumps(report, indent=1, allow_nan=False) + "\n"
    if html_out is not None:
        files[html_out] = render_html(report)
    try:
        write_all(files)
    except OSError as exc:
        fail(f"cannot write the report: {exc}")
    _summary(report, data)
    _hints(report)


def _variants(first: Variant, compare: str | None) -> list[Variant]:
    if compare is None:
        return [first]
    if compare in MODELS:
        if compare == first.scheduler:
            fail(f"--compare {compare} is the scheduler already chosen; compare with the other one", EXIT_USAGE)
        return [first, Variant(compare, first.policy, first.source, first.queue)]
    if compare == "no-policy":
        if first.policy is None:
            fail("--compare no-policy needs --policy for the first run", EXIT_USAGE)
        return [first, Variant(first.scheduler)]
    path = Path(compare)
    if not path.is_file():
        fail(f"--compare {compare}: not {', '.join(MODELS)}, no-policy or an existing policy file", EXIT_USAGE)
    return [first, Variant(first.scheduler, load_checked(path), str(path), first.queue)]


def _identities(mapping: Path | None) -> IdentityMap:
    if mapping is None:
        return IdentityMap()
    try:
        return IdentityMap.load(mapping)
    except MappingError as exc:
        for problem in exc.problems:
            err.print(problem, style="red", markup=False)
        fail(f"invalid mapping file {mapping}")


def _read(path: Path, fmt: Format, lenient: bool, field: int, columns: str | None, dup: Duplicates) -> Trace:
    names = [c.strip() for c in columns.split(",") if c.strip()] if columns else None
    try:
        trace = read_trace(
            path, fmt.value, lenient=lenient, requested_time_field=field, columns=names, duplicates=dup.value
        )
    except (TraceError, TraceFormatError) as exc:
        fail(str(exc))
    except ValueError as exc:  # a reader's argument check, e.g. the SWF field number
        fail(f"{path}: {exc}")
    if trace.problems.skipped:
        err.print(f"warning: skipped {trace.problems.skipped} malformed line(s), e.g.", style="yellow", markup=False)
        for message in trace.problems.messages[:3]:
            err.print(f"  {message}", style="yellow", markup=False)
    if not trace.jobs:
        fail(f"{path}: no job in the trace can be replayed ({trace.records} record(s) read)")
    return trace


def _run(trace: Trace, variant: Variant, options: Options, show: bool) -> RunResult:
    try:
        if not (show and err.is_terminal):
            return run_variant(trace, variant, options)
        columns: Any = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
        with Progress(*columns, console=err, transient=True) as bar:
            task = bar.add_task(variant.label, total=len(trace.jobs))
            return run_variant(trace, variant, options, progress=lambda done: bar.update(task, completed=done))
    except RequestError as exc:
        fail(f"{trace.path}:{exc.line}: {exc.message}")


def _hints(report: dict[str, Any]) -> None:
    """Point at the mapping when the policy refused jobs for not knowing who they belong to."""
    for run in report["runs"]:
        codes = (run["governance"] or {}).get("denied_by_code", {})
        if codes.get("project.unknown") or codes.get("project.not_member"):
            err.print(
                "hint: trace users and groups become users u<id> and projects g<id> unless --mapping says "
                "otherwise; jobs were denied for naming a project the policy does not give them",
                style="yellow",
                markup=False,
            )
            return


def _summary(report: dict[str, Any], trace: Trace) -> None:
    table = Table(title=f"{trace.path}: {len(trace.jobs):,} jobs ({trace.format})", title_justify="left")
    table.add_column("")
    for run in report["runs"]:
        table.add_column(run["label"], justify="right")
    for label, cells in summary_rows(report):
        table.add_row(label, *cells)
    out.print(table)
    for label, header, rows in fairness_tables(report):
        accounts = Table(title=f"accounts that used most: {label}", title_justify="left")
        for index, name in enumerate(header):
            accounts.add_column(name, justify="left" if index == 0 else "right")
        for row in rows:
            accounts.add_row(*row)
        out.print(accounts)
