"""``hpcpolicy slurm plugin`` (write job_submit.lua) and ``hpcpolicy slurm sync`` (sacct → ledger)."""

from __future__ import annotations

import getpass
import json
import signal
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import typer

from hpcpolicy.adapters.slurm.plugin import PluginConfig, render
from hpcpolicy.adapters.slurm.releases import Holds
from hpcpolicy.adapters.slurm.sacct import SacctReader
from hpcpolicy.adapters.slurm.sync import Sources, SyncReport, Watermark, apply, exit_worthy, sync_window, watch
from hpcpolicy.atomicfile import write_atomically
from hpcpolicy.cli.common import err, fail, out
from hpcpolicy.cli.service_cmds import DataDirOpt, DbOpt, PolicyOpt, governance_from, settings_from
from hpcpolicy.ledger.base import LedgerUnavailable
from hpcpolicy.service.reconcile import Reconciler

app = typer.Typer(help="Slurm: the job_submit plugin and usage reconciliation from sacct.", no_args_is_help=True)

ClusterOpt = Annotated[
    str | None, typer.Option(help="The policy's name for this Slurm cluster (default: partition names decide).")
]


@app.command("plugin")
def plugin(
    url: Annotated[str, typer.Option(help="The service, http://<IP>:<port> (a literal address).")] = (
        "http://127.0.0.1:8003"
    ),
    timeout: Annotated[float, typer.Option(help="Seconds for the whole HTTP call (slurmctld waits, locked).")] = 1.0,
    fail_open: Annotated[
        bool,
        typer.Option("--fail-open/--fail-closed", help="Accept or reject jobs when the service cannot answer."),
    ] = False,
    cluster: ClusterOpt = None,
    api_key_file: Annotated[
        Path | None, typer.Option(help="Absolute path of a file holding a may-assert-identity API key.")
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output", "-o", help="Replace this file atomically (its mode kept, else 0644); default: stdout."
        ),
    ] = None,
) -> None:
    """Write job_submit.lua for slurm.conf's JobSubmitPlugins=lua (``-o /etc/slurm/job_submit.lua``).

    Use ``-o`` rather than a shell redirect: ``> job_submit.lua`` empties the live file before this command
    runs, and slurmctld may load it empty if a flag is wrong. With ``-o`` a failed run changes nothing.
    """
    try:
        text = render(PluginConfig(url, timeout, fail_open, cluster, api_key_file))
    except ValueError as exc:
        fail(str(exc))
    if output is None:
        typer.echo(text, nl=False)
        return
    try:
        write_atomically(output, text)
    except OSError as exc:
        fail(f"cannot write {output}: {exc.strerror or exc} (nothing was written)")
    err.print(f"wrote {output}", markup=False)


@app.command("sync")
def sync(
    file: Annotated[
        Path | None, typer.Option("--file", help="A saved `sacct --parsable2` dump instead of running sacct.")
    ] = None,
    columns: Annotated[
        str | None, typer.Option(help="The dump's --format list when it has no header line (comma separated).")
    ] = None,
    tz: Annotated[str, typer.Option(help="Time zone of a dump's timestamps (live sacct runs with TZ=UTC).")] = "UTC",
    since: Annotated[
        datetime | None, typer.Option(help="Window start (UTC); default: the watermark, else one day ago.")
    ] = None,
    until: Annotated[datetime | None, typer.Option(help="Window end (UTC); default: now.")] = None,
    cluster: ClusterOpt = None,
    watch_mode: Annotated[bool, typer.Option("--watch", help="Keep syncing every --interval seconds.")] = False,
    interval: Annotated[float, typer.Option(min=1.0, help="Seconds between passes with --watch.")] = 60.0,
    overlap: Annotated[float, typer.Option(min=0.0, help="Seconds each window reaches back before the mark.")] = 600.0,
    settle: Annotated[
        float, typer.Option(min=0.0, help="Seconds after its end before a job is applied (records settle).")
    ] = 60.0,
    grace: Annotated[
        float, typer.Option(min=0.0, help="Seconds before a reserved lien whose job Slurm no longer knows expires.")
    ] = 300.0,
    state_file: Annotated[
        Path | None, typer.Option(help="Watermark file (default: <data dir>/slurm-sync.json).")
    ] = None,
    policy: PolicyOpt = None,
    database_url: DbOpt = None,
    data_dir: DataDirOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print each pass's report as JSON.")] = False,
) -> None:
    """Charge what Slurm accounting says jobs used: liens settled (rest released), hook-less jobs charged.

    Live passes also release the held jobs the service admitted from its queue (in its fair-share order),
    cancel those it refused, and show each waiting job's position in its comment.
    Idempotent: running it again over the same jobs changes nothing. Exit 1 if sacct or the ledger
    fails, or if the ledger already holds a different outcome for a job (a conflict).
    """
    if overlap < settle:
        fail("--overlap must be at least --settle: a job left to settle must be in the next window")
    settings = settings_from(policy=policy, database_url=database_url, data_dir=data_dir)
    try:
        zone = ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        fail(f"unknown time zone {tz!r}")
    column_list = [c for c in columns.split(",") if c.strip()] if columns else None
    # the policy is read once (the latest stored revision, or --policy): restart a --watch after a change
    gov = governance_from(settings, migrate=False, distribute=False)
    reconciler = Reconciler(gov.ctx)

    def reader() -> SacctReader:
        return SacctReader(cluster=cluster, columns=column_list, tz=zone)

    def show(report: SyncReport) -> None:
        if as_json:
            out.print_json(json.dumps(report.to_dict()))
        else:
            (err if report.error else out).print(report.summary(), markup=False)
        for problem in report.problems:
            err.print(f"warning: {problem}", markup=False)

    if file is not None:
        try:
            with file.open(encoding="utf-8", errors="replace") as lines:
                report = apply(reconciler, lines, reader(), SyncReport(None, None))
        except OSError as exc:
            fail(f"cannot read {file}: {exc.strerror}")
        except LedgerUnavailable as exc:
            report = SyncReport(None, None, error=str(exc))
        show(report)
        raise typer.Exit(1 if exit_worthy(report) else 0)
    state = Watermark(state_file or settings.data_dir / "slurm-sync.json")
    try:
        mark = state.load()
    except ValueError as exc:
        fail(str(exc))
    now = datetime.now(UTC)
    first = _utc(since) if since else (mark - timedelta(seconds=overlap) if mark else now - timedelta(days=1))
    sources = Sources(settle=timedelta(seconds=settle), grace=timedelta(seconds=grace))
    holds = Holds(gov, cluster=cluster, actor=f"local:{getpass.getuser()}")
    if not watch_mode:
        report = sync_window(reconciler, first, _utc(until) if until else now, reader(), sources, now, holds)
        if report.error is None and since is None and until is None:
            state.save(report.until or now)
        show(report)
        raise typer.Exit(1 if exit_worthy(report) else 0)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _stopper(stop))
    watch(
        reconciler,
        reader,
        state,
        first_since=first,
        overlap=timedelta(seconds=overlap),
        clock=lambda: datetime.now(UTC),
        wait=lambda: not stop.wait(interval),
        report=show,
        sources=sources,
        holds=holds,
    )


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _stopper(stop: threading.Event) -> Callable[[int, FrameType | None], None]:
    def handler(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    return handler
