"""``hpcpolicy audit``: seal the event log into its hash chain, and verify it (docs/design/audit.md)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from hpcpolicy.cli.common import fail, out
from hpcpolicy.cli.service_cmds import DataDirOpt, DbOpt, _redact, settings_from
from hpcpolicy.ledger.base import LedgerUnavailable

if TYPE_CHECKING:
    from hpcpolicy.ledger.sql.ledger import SqlLedger

app = typer.Typer(help="The audit log: seal and verify its hash chain.", no_args_is_help=True)


def _ledger(database_url: str | None, data_dir: Path | None) -> SqlLedger:
    from hpcpolicy.ledger.sql.connect import create_ledger_engine
    from hpcpolicy.ledger.sql.ledger import SqlLedger

    settings = settings_from(database_url=database_url, data_dir=data_dir)
    url = settings.ledger_url()
    try:
        ledger = SqlLedger(create_ledger_engine(url, connect_timeout=settings.db_timeout_seconds))
        ledger.ping()
    except LedgerUnavailable as exc:
        fail(f"cannot reach the ledger database ({_redact(url)}): {exc}")
    return ledger


@app.command("seal")
def seal(database_url: DbOpt = None, data_dir: DataDirOpt = None) -> None:
    """Chain every committed event not sealed yet (the server does this every second)."""
    from hpcpolicy.ledger.sql.audit import seal as seal_events

    ledger = _ledger(database_url, data_dir)
    total = 0
    while done := seal_events(ledger):
        total += done
    out.print(f"sealed {total} event(s)")


@app.command("verify")
def verify(
    database_url: DbOpt = None,
    data_dir: DataDirOpt = None,
    start: Annotated[int, typer.Option("--from", min=1, help="Start at this sequence number.")] = 1,
) -> None:
    """Walk the chain and name the first event edited, deleted, inserted or moved; exit 1 if there is one."""
    from hpcpolicy.ledger.sql.audit import unsealed
    from hpcpolicy.ledger.sql.audit import verify as verify_events

    ledger = _ledger(database_url, data_dir)
    checked, found = verify_events(ledger, start)
    pending = unsealed(ledger)
    if found is not None:
        fail(f"audit chain broken after {checked - 1} good event(s): {found}")
    out.print(f"ok: {checked} event(s) from seq {start} chain; {pending} not sealed yet")


@app.command("deliver")
def deliver(
    database_url: DbOpt = None,
    data_dir: DataDirOpt = None,
    once: Annotated[bool, typer.Option("--once", help="Deliver what is sealed now, then exit (for cron).")] = False,
    sink: Annotated[str | None, typer.Option(help="Only this sink: nats or webhook (default: every one set).")] = None,
) -> None:
    """Deliver sealed events to the configured sinks (HPCPOLICY_AUDIT_NATS_URL, HPCPOLICY_AUDIT_WEBHOOK_URL) in
    the foreground, holding each sink's lease, as a server does in the background."""
    from hpcpolicy.cli.deliver import run_deliveries

    run_deliveries(_ledger(database_url, data_dir), settings_from(database_url=database_url, data_dir=data_dir),
                   once=once, sink=sink)  # fmt: skip
