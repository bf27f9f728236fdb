"""``hpcpolicy alerts``: send a sample alert through every channel, list fired alerts and their delivery."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from hpcpolicy.cli.common import err, fail, out
from hpcpolicy.cli.service_cmds import DataDirOpt, DbOpt, PolicyOpt, governance_from, settings_from
from hpcpolicy.engine.limits import check_scope
from hpcpolicy.ledger.alerts import FiredAlert
from hpcpolicy.ledger.base import LedgerUnavailable
from hpcpolicy.service import Governance, ServiceError

app = typer.Typer(help="Budget alerts (docs/alerts.md): test the channels, list what fired.", no_args_is_help=True)

ScopeArg = Annotated[str, typer.Argument(help="user:<id>, project:<name>, team:<name> or org:<name>")]


def _governance(scope: str | None, policy: Any, database_url: Any, data_dir: Any) -> Governance:
    if scope is not None:
        try:
            check_scope(scope)
        except ValueError as exc:
            fail(f"scope: {exc}")
    gov = governance_from(settings_from(policy=policy, database_url=database_url, data_dir=data_dir),
                          migrate=False, distribute=False)  # fmt: skip
    if scope is not None:
        try:
            gov.accounts.quotas(scope)  # the scope must be the policy's
        except ServiceError as exc:
            fail(exc.detail)
    return gov


@app.command("test")
def test(scope: ScopeArg, policy: PolicyOpt = None, database_url: DbOpt = None, data_dir: DataDirOpt = None) -> None:
    """Send a sample alert on SCOPE now, to its contacts (by mail) and to every webhook the policy declares;
    say what each channel answered. Exits 1 if any channel failed or there is nowhere to send."""
    gov = _governance(scope, policy, database_url, data_dir)
    try:
        sent = gov.alerts.sample(scope)
    finally:
        gov.alerts.channels.close()
    if not sent:
        fail(f"nowhere to send: {scope} has no contacts (nor its parents) and the policy declares no webhooks")
    for s in sent:
        if s.error is None:
            out.print(f"ok      {s.channel:<8} {s.recipient}", markup=False)
        else:
            err.print(f"FAILED  {s.channel:<8} {s.recipient}: {s.error}", style="red", markup=False)
    failed = sum(s.error is not None for s in sent)
    if failed:
        fail(f"{failed} of {len(sent)} channel(s) failed")


@app.command("list")
def listing(
    scope: Annotated[str | None, typer.Option(help="Only this scope's alerts.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 50,
    policy: PolicyOpt = None,
    database_url: DbOpt = None,
    data_dir: DataDirOpt = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Fired alerts, newest first, with each delivery's state (pending, delivered, failed) and last error."""
    gov = _governance(scope, policy, database_url, data_dir)
    try:
        fired = gov.alerts.fired([scope] if scope else None, limit)
    except LedgerUnavailable as exc:
        fail(str(exc))
    if as_json:
        out.print_json(json.dumps([_json(f) for f in fired]))
        return
    for f in fired:
        a = f.alert
        out.print(f"{a.fired_at:%Y-%m-%d %H:%M:%S}  {a.rule}  {a.condition}  {a.summary}", markup=False, soft_wrap=True)
        for d in f.deliveries:
            error = f"  ({d.last_error})" if d.last_error else ""
            out.print(f"    {d.state.value:<9} {d.channel:<8} {d.recipient}  attempts {d.attempts}{error}",
                      markup=False, soft_wrap=True)  # fmt: skip
    out.print(f"{len(fired)} alert(s)", markup=False)


def _json(fired: FiredAlert) -> dict[str, Any]:
    a = fired.alert
    return {"id": a.id, "rule": a.rule, "scope": a.scope, "subject": a.subject, "condition": a.condition,
            "window_start": a.window_start.isoformat(), "fired_at": a.fired_at.isoformat(), "summary": a.summary,
            "details": a.details,
            "deliveries": [{"channel": d.channel, "recipient": d.recipient, "state": d.state.value,
                            "attempts": d.attempts, "last_error": d.last_error,
                            "delivered_at": d.delivered_at.isoformat() if d.delivered_at else None,
                            "next_attempt_at": d.next_attempt_at.isoformat() if d.next_attempt_at else None}
                           for d in fired.deliveries]}  # fmt: skip
