"""``hpcpolicy keys create|list|revoke``: service API keys, stored hashed in the keys file.

The keys file is ``HPCPOLICY_KEYS_FILE`` or ``<data dir>/keys.yaml``; ``hpcpolicy serve`` reads the same
file, so creating the first key turns authentication on. A key's plaintext is printed once and never stored.
With the audit log on (``HPCPOLICY_AUDIT_LOG``), creating and revoking record an event in the ledger
database, as the local user who ran the command (``local:<user>``).
"""

from __future__ import annotations

import getpass
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from hpcpolicy.auth import SCOPE_DECIDE, AuthSettings, KeysFileError, load_keys_file
from hpcpolicy.cli.common import err, fail, out
from hpcpolicy.cli.service_cmds import DbOpt, ledger_from, settings_from
from hpcpolicy.ledger.base import LedgerUnavailable
from hpcpolicy.settings import ServiceSettings

if TYPE_CHECKING:
    from hpcpolicy.ledger.sql.ledger import SqlLedger

app = typer.Typer(help="Service API keys (stored hashed; the plaintext is shown once).", no_args_is_help=True)

FileOpt = Annotated[
    Path | None,
    typer.Option("--file", help="Keys file (env HPCPOLICY_KEYS_FILE; default <data dir>/keys.yaml)."),
]
DataDirOpt = Annotated[Path | None, typer.Option(help="Data directory (env HPCPOLICY_DATA_DIR; ./.hpcpolicy).")]


def keys_path(file: Path | None, data_dir: Path | None) -> Path:
    if file is not None:
        return file
    try:
        settings, auth = ServiceSettings(), AuthSettings()
    except Exception as exc:  # pydantic's ValidationError names the bad variables
        fail(f"invalid settings in the environment: {exc}")
    return auth.keys_file_or(data_dir or settings.data_dir)


def _audit_ledger(database_url: str | None, data_dir: Path | None) -> SqlLedger | None:
    """The ledger that records key events, when the audit log is on (migrated, as a first start would)."""
    settings = settings_from(database_url=database_url, data_dir=data_dir)
    return ledger_from(settings, migrate=True) if settings.audit_log else None


def _actor() -> str:
    try:
        return f"local:{getpass.getuser()}"
    except (KeyError, OSError):  # no passwd entry (a container's arbitrary uid)
        return "local:unknown"


@app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="Who holds the key, e.g. api-gateway or slurm-ctld.")],
    scope: Annotated[
        list[str] | None,
        typer.Option(
            "--scope",
            help=f"Scope to grant (repeatable): {SCOPE_DECIDE}, report (usage facts: start, finish, job ids), "
            f"admin. Default: {SCOPE_DECIDE}.",
        ),
    ] = None,
    may_assert_identity: Annotated[
        bool,
        typer.Option(
            "--may-assert-identity",
            help="Trust user_id and roles in request bodies (only for a gateway that authenticates users itself).",
        ),
    ] = False,
    file: FileOpt = None,
    data_dir: DataDirOpt = None,
    database_url: DbOpt = None,
) -> None:
    """Create a key, store its hash, print the key once on stdout."""
    path = keys_path(file, data_dir)
    from hpcpolicy.service.keys import create_recorded

    ledger = _audit_ledger(database_url, data_dir)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        key, record = create_recorded(
            path, ledger, _actor(), name, scope or [SCOPE_DECIDE], may_assert_identity=may_assert_identity
        )
    except (KeysFileError, ValueError, OSError) as exc:
        fail(f"{path}: {exc}")
    except LedgerUnavailable as exc:
        fail(f"the key's audit event could not be recorded, so no key was created: {exc}")
    err.print(
        f"created key {record.key_id} ({record.name}; scopes {', '.join(sorted(record.scopes))}"
        f"{'; may assert identities' if record.may_assert_identity else ''}) in {path}. "
        "Store it now: it is not shown again."
    )
    typer.echo(key)


@app.command("list")
def list_keys(
    file: FileOpt = None,
    data_dir: DataDirOpt = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """List keys (ids, names, scopes; never secrets)."""
    path = keys_path(file, data_dir)
    try:
        records = load_keys_file(path) if path.exists() else []
    except KeysFileError as exc:
        fail(str(exc))
    if as_json:
        out.print_json(json.dumps([{k: v for k, v in r.to_dict().items() if k != "hash"} for r in records]))
        return
    table = Table(title=str(path), title_justify="left")
    for column in ("key_id", "name", "scopes", "asserts identity", "created"):
        table.add_column(column)
    for r in records:
        asserts = "yes" if r.may_assert_identity else ""
        table.add_row(r.key_id, r.name, ",".join(sorted(r.scopes)), asserts, r.created_at.isoformat())
    out.print(table)


@app.command("revoke")
def revoke(
    key: Annotated[str, typer.Argument(help="key_id, or a name (revokes every key of that name).")],
    file: FileOpt = None,
    data_dir: DataDirOpt = None,
    database_url: DbOpt = None,
) -> None:
    """Remove a key; a running server stops accepting it when it re-reads the file."""
    path = keys_path(file, data_dir)
    from hpcpolicy.service.keys import revoke_recorded

    ledger = _audit_ledger(database_url, data_dir) if path.exists() else None
    try:
        removed = revoke_recorded(path, ledger, _actor(), key) if path.exists() else []
    except KeysFileError as exc:
        fail(str(exc))
    except LedgerUnavailable as exc:
        fail(f"the revocation's audit event could not be recorded, so the key was kept: {exc}")
    if not removed:
        fail(f"no key {key!r} in {path}")
    for r in removed:
        err.print(f"revoked {r.key_id} ({r.name})")
