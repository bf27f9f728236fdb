"""``hpcpolicy audit``: seal the event log into its hash chain, and verify it (docs/design/audit.md)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from hpcpolicy.cli.common import err, fail, out
from hpcpolicy.cli.service_cmds import DataDirOpt, DbOpt, ledger_from, settings_from

if TYPE_CHECKING:
    from hpcpolicy.ledger.checkpoints import Checkpoint
    from hpcpolicy.ledger.sql.ledger import SqlLedger

app = typer.Typer(help="The audit log: seal, verify, sign, read and archive it.", no_args_is_help=True)


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
    start: Annotated[
        int | None, typer.Option("--from", min=1, help="Start at this sequence number (default: the oldest held).")
    ] = None,
    archive: Annotated[
        Path | None, typer.Option(help="Directory of archived segments (hpcpolicy audit archive) to check too.")
    ] = None,
    checkpoints: Annotated[
        Path | None,
        typer.Option(help="Exported checkpoints (JSON lines) to hold the chain against: catches a rewritten chain."),
    ] = None,
    public_key: Annotated[
        Path | None,
        typer.Option(help="Ed25519 public key (PEM) of the checkpoints; default: of HPCPOLICY_AUDIT_SIGNING_KEY_FILE."),
    ] = None,
) -> None:
    """Walk the chain and name the first event edited, deleted, inserted or moved, then check signed
    checkpoints (the database's and an exported file's) against it; exit 1 at the first problem."""
    from hpcpolicy.ledger.checkpoints import CheckpointKeyError, check_checkpoints, load_public_key
    from hpcpolicy.ledger.sql.audit import first_sealed, hash_at, stored_checkpoints, unsealed
    from hpcpolicy.ledger.sql.verify import verify as verify_events

    settings = settings_from(database_url=database_url, data_dir=data_dir)
    ledger = ledger_from(settings)
    key_file = public_key or settings.audit_signing_key_file
    if checkpoints is not None and key_file is None:
        fail("--checkpoints needs --public-key (or HPCPOLICY_AUDIT_SIGNING_KEY_FILE) to check the signatures")
    exported = _read_checkpoints(checkpoints) if checkpoints is not None else None
    archived = _check_archive(ledger, archive) if archive is not None else {}
    first = first_sealed(ledger)
    checked, found = verify_events(ledger, start, workers=os.cpu_count() or 1)  # start None: the oldest held
    start = start or (first[0] if first else 1)
    pending = unsealed(ledger)
    if found is not None:
        fail(f"audit chain broken after {checked - 1} good event(s): {found}")
    out.print(f"ok: {checked} event(s) from seq {start} chain; {pending} not sealed yet")
    if first is not None and first[0] > 1 and not archived:
        err.print(f"note: events 1..{first[0] - 1} are not in the database (archived?); check them with --archive DIR")
    if key_file is None:
        return
    try:
        public = load_public_key(key_file)
    except CheckpointKeyError as exc:
        fail(str(exc))
    sources = [("stored", stored_checkpoints(ledger))]
    if exported is not None:
        sources.append((str(checkpoints), exported))

    def chain_hash(seq: int) -> str | None:
        return hash_at(ledger, seq) or archived.get(seq)

    for where, found_checkpoints in sources:
        count, problem = check_checkpoints(found_checkpoints, public, chain_hash)
        if problem is not None:
            fail(f"{where} checkpoints: {problem}")
        out.print(f"ok: {count} {where} checkpoint(s) match the chain")


def _check_archive(ledger: SqlLedger, directory: Path) -> dict[int, str]:
    """Check archived segments and their link to the database chain; their hashes by ``seq``."""
    from hpcpolicy.ledger.sql.archive import ArchiveError, archived_hashes, check_archive

    try:
        count, problem = check_archive(ledger, directory)
        if problem is not None:
            fail(f"archive {directory}: {problem}")
        out.print(f"ok: {count} archived event(s) in {directory} chain, and the database takes up after them")
        return dict(archived_hashes(directory))
    except ArchiveError as exc:
        fail(str(exc))


@app.command("keygen")
def keygen(
    out_file: Annotated[
        Path, typer.Option("--out", help="Private key file (PEM, mode 0600); the public key goes to FILE.pub.")
    ],
) -> None:
    """Make an Ed25519 key for signing checkpoints (set HPCPOLICY_AUDIT_SIGNING_KEY_FILE to it)."""
    from hpcpolicy.atomicfile import write_atomically
    from hpcpolicy.ledger.checkpoints import new_private_key_pem

    if out_file.exists():
        fail(f"{out_file} exists; not overwriting a signing key")
    private, public = new_private_key_pem()
    try:
        write_atomically(out_file, private.decode(), mode=0o600)
        write_atomically(out_file.with_name(out_file.name + ".pub"), public.decode(), mode=0o644)
    except OSError as exc:
        fail(f"{out_file}: {exc}")
    out.print(f"wrote {out_file} and {out_file}.pub")


@app.command("checkpoints")
def export_checkpoints(
    database_url: DbOpt = None,
    data_dir: DataDirOpt = None,
    after: Annotated[int, typer.Option(min=0, help="Only checkpoints after this sequence number.")] = 0,
) -> None:
    """Print the signed checkpoints as JSON lines (keep them where the database admin cannot write)."""
    import orjson

    from hpcpolicy.ledger.sql.audit import stored_checkpoints

    for cp in stored_checkpoints(_ledger(database_url, data_dir), after):
        typer.echo(orjson.dumps(cp.to_dict()).decode())


def _read_checkpoints(path: Path) -> list[Checkpoint]:
    import orjson

    from hpcpolicy.ledger.checkpoints import Checkpoint

    found = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"{path}: {exc}")
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            found.append(Checkpoint.from_dict(orjson.loads(line), f"{path}:{number}"))
        except (orjson.JSONDecodeError, ValueError) as exc:
            fail(f"{path}:{number}: {exc}" if isinstance(exc, orjson.JSONDecodeError) else str(exc))
    return found


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


from hpcpolicy.cli import audit_read_cmd  # noqa: E402, F401  (registers tail, export, explain, archive)
