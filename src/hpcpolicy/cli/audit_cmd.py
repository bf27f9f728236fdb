"""``hpcpolicy audit``: seal the event log into its hash chain, and verify it (docs/design/audit.md)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from hpcpolicy.cli.common import fail, out
from hpcpolicy.cli.service_cmds import DataDirOpt, DbOpt, ledger_from, settings_from

if TYPE_CHECKING:
    from hpcpolicy.ledger.sql.ledger import SqlLedger

app = typer.Typer(help="The audit log: seal and verify its hash chain.", no_args_is_help=True)


def _ledger(database_url: str | None, data_dir: Path | None) -> SqlLedger:
    return ledger_from(settings_from(database_url=database_url, data_dir=data_dir))


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
