"""``hpcpolicy queue``: what waits in the admission queue (like ``squeue``), and withdrawing a request."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from hpcpolicy.cli.common import fail, out
from hpcpolicy.cli.service_cmds import DataDirOpt, DbOpt, PolicyOpt, governance_from, settings_from
from hpcpolicy.engine.limits import check_ident
from hpcpolicy.ledger.base import LedgerUnavailable
from hpcpolicy.service.queue_view import Standing

app = typer.Typer(help="The admission queue: held requests in the order they will be admitted.", no_args_is_help=True)


def _ident(value: str | None, what: str) -> str | None:
    if value is None:
        return None
    try:
        return check_ident(value)
    except ValueError as exc:
        fail(f"{what}: {exc}")


@app.command("list")
def waiting(
    user: Annotated[str | None, typer.Option(help="Only this user's held requests.")] = None,
    policy: PolicyOpt = None,
    database_url: DbOpt = None,
    data_dir: DataDirOpt = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Held requests in admission order: priority (fair share + age + size), what holds each, and its
    position among the requests waiting for the same limit."""
    user = _ident(user, "--user")
    gov = governance_from(settings_from(policy=policy, database_url=database_url, data_dir=data_dir),
                          migrate=False, distribute=False)  # fmt: skip
    try:
        rows = gov.queue.waiting(user)
    except LedgerUnavailable as exc:
        fail(str(exc))
    if as_json:
        out.print_json(json.dumps([_json(r) for r in rows]))
        return
    out.print("position  priority  decision id                           user / project       held since            "
              "held by", style="bold", markup=False)  # fmt: skip
    for r in rows:
        e = r.entry
        who = f"{e.user_id} / {e.project or '-'}"
        position = "" if r.position is None else str(r.position)
        out.print(f"{position:>8}  {r.priority or 0:>8}  {e.id:<36}  {who:<19}  {e.at:%Y-%m-%d %H:%M:%S}   "
                  f"{', '.join(e.blocked_by)}", markup=False, soft_wrap=True)  # fmt: skip
    out.print(f"{len(rows)} waiting", markup=False)


@app.command("cancel")
def cancel(
    decision_id: Annotated[str, typer.Argument(help="The id the request was given when it was held.")],
    policy: PolicyOpt = None,
    database_url: DbOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Withdraw a held request (as the local admin)."""
    import getpass

    decision_id = _ident(decision_id, "decision id") or ""
    gov = governance_from(settings_from(policy=policy, database_url=database_url, data_dir=data_dir),
                          migrate=False, distribute=False)  # fmt: skip
    try:
        entry = gov.held(decision_id)
        if entry is None:
            fail(f"no held request {decision_id}")
        if gov.cancel_held(decision_id, f"local:{getpass.getuser()}") is None:
            fail(f"request {decision_id} is no longer queued: {entry.state.value if entry else 'gone'}")
    except LedgerUnavailable as exc:
        fail(str(exc))
    out.print(f"cancelled {decision_id}", markup=False)


def _json(r: Standing) -> dict[str, object]:
    e = r.entry
    return {"decision_id": e.id, "user_id": e.user_id, "project": e.project, "service": e.service,
            "caller": e.caller, "position": r.position, "priority": r.priority, "blocked_by": list(e.blocked_by),
            "held_at": e.at.isoformat(), "expires_at": e.expires_at.isoformat(),
            "estimate": e.decision.get("estimate")}  # fmt: skip
