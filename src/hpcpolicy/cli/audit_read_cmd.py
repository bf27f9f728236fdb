"""``hpcpolicy audit tail|export|archive|explain``: the sealed audit log as CloudEvents JSON lines, for people and
pipes, and as verified segments before an admin prunes old events.

They read sealed events only (what the chain covers), in ``seq`` order, filtered like ``GET /v1/events``.
"""

from __future__ import annotations

import time
from contextlib import nullcontext
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, BinaryIO

import typer

from hpcpolicy.cli.audit_cmd import _ledger, app
from hpcpolicy.cli.common import err, fail, out
from hpcpolicy.cli.service_cmds import DataDirOpt, DbOpt, ledger_from, settings_from

if TYPE_CHECKING:
    from collections.abc import Iterable

    from hpcpolicy.audit.explain import Explanation
    from hpcpolicy.ledger.events import Event

TypeOpt = Annotated[list[str] | None, typer.Option("--type", help="Only this event type (repeatable).")]
ScopeOpt = Annotated[str | None, typer.Option(help="Only events concerning this scope, e.g. project:climate.")]
UserOpt = Annotated[str | None, typer.Option(help="Only events concerning this user or caused by them.")]
PAGE = 1000


class Format(StrEnum):
    jsonl = "jsonl"


@app.command("tail")
def tail(
    database_url: DbOpt = None,
    data_dir: DataDirOpt = None,
    lines: Annotated[int, typer.Option("-n", "--lines", min=0, max=100_000, help="Events to show first.")] = 10,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing events as they are sealed.")] = False,
    types: TypeOpt = None,
    scope: ScopeOpt = None,
    user: UserOpt = None,
) -> None:
    """The last sealed events as JSON lines (CloudEvents); with --follow, new ones as they are sealed."""
    from hpcpolicy.ledger.sql.audit import read_events

    kinds = _filters(types, scope, user)
    ledger = _ledger(database_url, data_dir)
    last = read_events(ledger, 0, lines, kinds, scope, user, newest_first=True) if lines else []
    after = _write(reversed(last), typer.get_binary_stream("stdout"))
    if after is None:  # nothing shown: follow from the newest event of any kind
        newest = read_events(ledger, 0, 1, newest_first=True)
        after = (newest[0].seq or 0) if newest else 0
    while follow:
        time.sleep(1.0)
        after = _write(read_events(ledger, after, PAGE, kinds, scope, user), typer.get_binary_stream("stdout")) or after


@app.command("export")
def export(
    database_url: DbOpt = None,
    data_dir: DataDirOpt = None,
    after: Annotated[int, typer.Option(min=0, help="Start after this sequence number.")] = 0,
    until: Annotated[int | None, typer.Option(min=1, help="Stop at this sequence number.")] = None,
    types: TypeOpt = None,
    scope: ScopeOpt = None,
    user: UserOpt = None,
    fmt: Annotated[Format, typer.Option("--format", help="Output format.")] = Format.jsonl,
    out_file: Annotated[Path | None, typer.Option("--out", help="Write here instead of stdout.")] = None,
) -> None:
    """Every sealed event after --after (to --until) as JSON lines (CloudEvents with the chain's fields)."""
    from hpcpolicy.ledger.sql.audit import read_events

    kinds = _filters(types, scope, user)
    ledger = _ledger(database_url, data_dir)
    try:
        sink = out_file.open("wb") if out_file is not None else nullcontext(typer.get_binary_stream("stdout"))
    except OSError as exc:
        fail(f"{out_file}: {exc}")
    with sink as stream:
        while page := read_events(ledger, after, PAGE, kinds, scope, user):
            wanted = [e for e in page if until is None or (e.seq or 0) <= until]
            after = _write(wanted, stream) or after
            if len(wanted) < len(page) or len(page) < PAGE:
                break


@app.command("archive")
def archive(
    before: Annotated[datetime, typer.Option(help="Archive the events older than this (ISO date or time, UTC).")],
    out_dir: Annotated[Path, typer.Option("--out", help="Directory of the segments (JSON lines + manifest).")],
    database_url: DbOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Write the oldest events not archived yet (all before --before) as a verified segment with a signed
    checkpoint; say which rows an admin may then delete. The service itself never deletes events."""
    from hpcpolicy.ledger.sql.archive import ArchiveError, prune_limit
    from hpcpolicy.ledger.sql.archive import archive as write_segment

    settings = settings_from(database_url=database_url, data_dir=data_dir)
    ledger = ledger_from(settings)
    signer = ledger.checkpoints.signer if ledger.checkpoints is not None else None
    moment = before if before.tzinfo else before.replace(tzinfo=UTC)
    try:
        segment = write_segment(ledger, moment, out_dir, signer, datetime.now(UTC))
    except (ArchiveError, OSError) as exc:
        fail(f"nothing archived: {exc}")
    if segment is None:
        out.print(f"nothing to archive before {moment.isoformat()}")
        return
    signed = "signed checkpoint" if segment.checkpoint else "no checkpoint (no HPCPOLICY_AUDIT_SIGNING_KEY_FILE)"
    out.print(f"archived seq {segment.first}..{segment.last} to {out_dir / segment.name}.jsonl (verified; {signed})")
    through, behind = prune_limit(ledger, segment)
    for sink, seq in sorted(behind.items()):
        err.print(f"note: sink {sink} has delivered up to seq {seq} only: prune no further, or it stops at the gap")
    out.print(f"the database may now drop them: DELETE FROM events WHERE seq <= {through}")


@app.command("explain")
def explain(
    decision_id: Annotated[str, typer.Argument(help="The decision's id (decision_id in the answer).")],
    database_url: DbOpt = None,
    data_dir: DataDirOpt = None,
    policy: Annotated[
        Path | None, typer.Option(help="The policy text to use instead of the stored revision (an auditor's copy).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Decide a stored decision again from the request, policy revision and usage (replayed from the audit
    log) it saw; show the policy lines behind each violation; exit 1 if the answer differs."""
    import json

    from hpcpolicy.audit.explain import ExplainError
    from hpcpolicy.audit.explain import explain as explain_decision
    from hpcpolicy.cli.render import explanation

    ledger = _ledger(database_url, data_dir)
    try:
        text = policy.read_text(encoding="utf-8") if policy is not None else None
        found = explain_decision(ledger, decision_id, text)
    except (ExplainError, OSError, UnicodeDecodeError) as exc:
        fail(str(exc))
    if as_json:
        typer.echo(json.dumps(explanation_json(found), indent=2, default=str))
    else:
        explanation(out, found)
    if not found.same:
        raise typer.Exit(1)


def explanation_json(found: Explanation) -> dict[str, object]:
    r = found.record
    rules = [{"violation": v, "policy_lines": [e.first, e.last] if e else None, "policy_text": e.text if e else None}
             for v, e in found.excerpts]  # fmt: skip
    return {"decision_id": r.id, "at": r.at.isoformat(), "caller": r.caller, "policy_version": r.policy_version,
            "policy_source": found.policy_source, "request": r.request, "stored": r.decision,
            "replayed": found.replayed, "same": found.same, "differences": found.differences,
            "usage_events": found.usage_events, "notes": found.notes, "rules": rules}  # fmt: skip


def _filters(given: list[str] | None, scope: str | None, user: str | None) -> tuple[str, ...]:
    """The event types asked for, after the same checks of types, scope and user as ``GET /v1/events``."""
    from hpcpolicy.service.audit import check_filters
    from hpcpolicy.service.errors import InvalidInput

    kinds = tuple(given or ())
    try:
        check_filters(kinds, scope, user)
    except InvalidInput as exc:
        fail(exc.detail)
    return kinds


def _write(found: Iterable[Event], sink: BinaryIO) -> int | None:
    """Write events as JSON lines; return the last one's ``seq`` (None when there was none)."""
    import orjson

    last = None
    for event in found:
        sink.write(orjson.dumps(_line(event)) + b"\n")
        last = event.seq
    sink.flush()
    return last


def _line(event: Event) -> dict[str, object]:
    return event.cloudevent() | {"hpcpolicyprevhash": event.prev_hash, "hpcpolicyscopes": list(event.scopes)}
