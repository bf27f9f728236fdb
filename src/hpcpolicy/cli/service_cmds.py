"""``hpcpolicy serve``, ``hpcpolicy db upgrade``, ``hpcpolicy usage``: commands that run or read the service."""

from __future__ import annotations

import dataclasses
import gc
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from sqlalchemy.exc import SQLAlchemyError

from hpcpolicy.cli import render
from hpcpolicy.cli.common import err, fail, out
from hpcpolicy.engine.forecast import Forecast
from hpcpolicy.ledger.base import LedgerUnavailable
from hpcpolicy.ledger.checkpoints import CheckpointKeyError
from hpcpolicy.observability import logs
from hpcpolicy.policy import PolicyError
from hpcpolicy.service import Governance, ServiceError
from hpcpolicy.service.accounts import ScopeTotals
from hpcpolicy.settings import ServiceSettings

if TYPE_CHECKING:
    from hpcpolicy.ledger.sql.ledger import SqlLedger

PolicyOpt = Annotated[
    Path | None, typer.Option(help="Policy file (default: the packaged example; env HPCPOLICY_POLICY).")
]
DbOpt = Annotated[
    str | None, typer.Option("--database-url", help="SQLAlchemy URL (env DATABASE_URL; default SQLite in --data-dir).")
]
DataDirOpt = Annotated[Path | None, typer.Option(help="Data directory of the embedded SQLite ledger (./.hpcpolicy).")]


def settings_from(**flags: Any) -> ServiceSettings:
    """Environment first, flags on top (only those given)."""
    try:
        base = ServiceSettings()
    except Exception as exc:  # pydantic's ValidationError lists the bad variables
        fail(f"invalid settings in the environment: {exc}")
    return base.model_copy(update={k: v for k, v in flags.items() if v is not None})


def ledger_from(settings: ServiceSettings, *, migrate: bool = False) -> SqlLedger:
    """The ledger database of ``settings`` (with its audit settings), reachable, migrated if asked; exits
    with a message naming the (redacted) URL when it cannot be reached."""
    from hpcpolicy.bootstrap import checkpoint_policy
    from hpcpolicy.ledger.sql.connect import create_ledger_engine
    from hpcpolicy.ledger.sql.ledger import SqlLedger
    from hpcpolicy.ledger.sql.migrate import upgrade

    url = settings.ledger_url()
    try:
        ledger = SqlLedger(create_ledger_engine(url, connect_timeout=settings.db_timeout_seconds),
                           audit=settings.audit_log)  # fmt: skip
        ledger.ping()
        if migrate:
            upgrade(ledger.engine)
        ledger.checkpoints = checkpoint_policy(settings)
    except LedgerUnavailable as exc:
        fail(f"cannot reach the ledger database ({_redact(url)}): {exc}")
    except CheckpointKeyError as exc:
        fail(f"audit signing key (HPCPOLICY_AUDIT_SIGNING_KEY_FILE): {exc}")
    return ledger


def governance_from(settings: ServiceSettings, *, migrate: bool = True, distribute: bool = True) -> Governance:
    from hpcpolicy.bootstrap import build_governance

    try:
        return build_governance(settings, migrate=migrate, distribute=distribute)
    except PolicyError as exc:
        for issue in exc.issues:
            err.print(str(issue), style="red", markup=False)
        fail("the policy is invalid; not starting")
    except LedgerUnavailable as exc:
        fail(f"cannot reach the ledger database ({_redact(settings.ledger_url())}): {exc}")
    except CheckpointKeyError as exc:
        fail(f"audit signing key (HPCPOLICY_AUDIT_SIGNING_KEY_FILE): {exc}")
    except ValueError as exc:  # a setting read when the service is built (queue callback URLs, alert webhooks)
        fail(str(exc))


def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (env HPCPOLICY_HOST; default 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (env HPCPOLICY_PORT; default 8003).")] = None,
    policy: PolicyOpt = None,
    database_url: DbOpt = None,
    data_dir: DataDirOpt = None,
    log_level: Annotated[str, typer.Option(help="Log level (logs are JSON lines on stderr).")] = "info",
) -> None:
    """Run the decision service (embedded default: SQLite in ./.hpcpolicy, the example policy, port 8003)."""
    import uvicorn

    from hpcpolicy.adapters.slurm.identity import CachedResolver, system_user
    from hpcpolicy.api import create_app
    from hpcpolicy.api.limits import BodyLimits
    from hpcpolicy.api.protocol import with_header_timeout
    from hpcpolicy.auth import AuthConfigError, Authenticator, AuthSettings, KeysFileError
    from hpcpolicy.cluster import PolicySync

    settings = settings_from(host=host, port=port, policy=policy, database_url=database_url, data_dir=data_dir)
    try:
        authenticator = Authenticator(AuthSettings(), data_dir=settings.data_dir, loopback=settings.loopback)
    except (AuthConfigError, KeysFileError, ValueError) as exc:
        fail(f"authentication is misconfigured: {exc}")
    if not authenticator.has_credentials:
        if not settings.loopback:
            fail(
                f"refusing to bind {settings.host} without authentication: configure API keys "
                "(hpcpolicy keys create) or JWT (HPCPOLICY_JWT_SECRET / HPCPOLICY_JWT_PUBLIC_KEY), or bind 127.0.0.1"
            )
        err.print(
            "[bold yellow]DEV MODE: no authentication configured. Listening on loopback only; identities and "
            "roles in request bodies are trusted. Do not use in production. `hpcpolicy keys create` turns "
            "authentication on, also while the server runs.[/]"
        )
    logs.configure(log_level)
    for warning in authenticator.warnings():
        if not authenticator.dev_mode:
            err.print(f"[yellow]warning:[/] {warning}")
    gov = governance_from(settings)
    active = gov.ctx.policies.current.loaded
    err.print(f"policy {active.version} from {active.source}; ledger {_redact(settings.ledger_url())}")
    if isinstance(sync := gov.ctx.policies.distribution, PolicySync) and sync.superseded_file is not None:
        err.print(f"warning: {sync.superseded_file}", style="bold yellow", markup=False)
    limits = BodyLimits(settings.max_body_bytes, settings.max_policy_bytes, settings.body_timeout_seconds)
    from hpcpolicy.delivery.setup import delivery_workers

    deliveries = delivery_workers(settings, gov.ctx.ledger)  # audit sinks, if configured
    app = create_app(gov, authenticator, request_timeout=settings.request_timeout_seconds, limits=limits,
                     deliveries=deliveries, secure_cookies=settings.ui_secure_cookies,
                     unix_users=CachedResolver(system_user, settings.nss_cache_seconds))  # fmt: skip
    http = with_header_timeout(settings.header_timeout_seconds)  # uvicorn has no header timeout of its own
    # Python's full collections walked every object of the process: the loop stalled 120-135 ms every few
    # thousand decisions (the p99 of a busy server). What is alive now (modules, the app, the policy) lives
    # as long as the process: out of the collector's sight, a full collection took 1 ms.
    gc.collect()
    gc.freeze()
    uvicorn.run(app, host=settings.host, port=settings.port, log_level=log_level, access_log=False, http=http)


db_app = typer.Typer(help="Ledger database maintenance.", no_args_is_help=True)


@db_app.command("upgrade")
def db_upgrade(database_url: DbOpt = None, data_dir: DataDirOpt = None) -> None:
    """Apply the ledger's migrations (safe to repeat)."""
    from hpcpolicy.ledger.sql.connect import create_ledger_engine
    from hpcpolicy.ledger.sql.migrate import current_revision, upgrade

    settings = settings_from(database_url=database_url, data_dir=data_dir)
    engine = create_ledger_engine(settings.ledger_url(), connect_timeout=settings.db_timeout_seconds)
    try:
        upgrade(engine)
        revision = current_revision(engine)
    except Exception as exc:
        fail(f"migration failed on {_redact(settings.ledger_url())}: {exc}")
    out.print(f"ledger at revision {revision} ({_redact(settings.ledger_url())})")


@db_app.command("check")
def db_check(
    database_url: DbOpt = None,
    data_dir: DataDirOpt = None,
    repair: Annotated[bool, typer.Option("--repair", help="rewrite the running totals from the charges")] = False,
) -> None:
    """Recompute the running totals from the ledger and compare; exit 1 on any difference.

    The charges' totals (usage_buckets) from the charges, the open liens' (held_totals) from the liens. With
    --repair, each is rewritten in one transaction (the differences found are printed first; the exit code
    is then 0).
    """
    from hpcpolicy.ledger.sql import held_check
    from hpcpolicy.ledger.sql.bucket_check import check
    from hpcpolicy.ledger.sql.connect import create_ledger_engine
    from hpcpolicy.ledger.sql.migrate import is_current

    settings = settings_from(database_url=database_url, data_dir=data_dir)
    ledger = _redact(settings.ledger_url())
    engine = create_ledger_engine(settings.ledger_url(), connect_timeout=settings.db_timeout_seconds)
    try:
        if not is_current(engine):
            fail(f"the ledger {ledger} is not at the current revision: run hpcpolicy db upgrade")
        found = check(engine, repair=repair)
        held = held_check.check(engine, repair=repair)
    except SQLAlchemyError as exc:
        fail(f"cannot check the ledger {ledger}: {exc}")
    finally:
        engine.dispose()
    for d in found:
        where = f"{d.scope} {d.grain} {d.bucket_start:%Y-%m-%d} slice {'/'.join(v or '-' for v in d.slice)}"
        out.print(f"{where}: stored {_bucket(d.stored)}, charges say {_bucket(d.expected)}", markup=False)
    for h in held:
        where = f"{h.scope} open liens, slice {'/'.join(v or '-' for v in h.slice)}"
        out.print(f"{where}: stored {_held(h.stored)}, liens say {_held(h.expected)}", markup=False)
    found_any: list[object] = [*found, *held]
    if not found_any:
        out.print(f"running totals agree with the ledger ({ledger})")
    elif repair:
        out.print(f"{len(found_any)} running totals differed from the ledger: rewritten ({ledger})")
    else:
        fail(f"{len(found_any)} running totals differ from the ledger (hpcpolicy db check --repair rewrites them)")


def _held(sums: tuple[float, float, float, int, int] | None) -> str:
    if sums is None:
        return "nothing"
    return f"cpu_hours={sums[0]!r} gpu_hours={sums[1]!r} cost={sums[2]!r} jobs={sums[3]} gpus={sums[4]}"


def _bucket(amounts: tuple[float, float, float, int] | None) -> str:
    if amounts is None:
        return "nothing"
    return f"cpu_hours={amounts[0]!r} gpu_hours={amounts[1]!r} cost={amounts[2]!r} charges={amounts[3]}"


def usage(
    scope: Annotated[str, typer.Argument(help="user:<id>, project:<name>, team:<name> or org:<name>")],
    policy: PolicyOpt = None,
    database_url: DbOpt = None,
    data_dir: DataDirOpt = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Balances of a scope: limit, charged, reserved and available per quota and metric.

    A scope without quotas (a listed user with none) shows its totals instead: charged this month and
    reserved now.
    """
    settings = settings_from(policy=policy, database_url=database_url, data_dir=data_dir)
    gov = governance_from(settings, migrate=False, distribute=False)
    try:
        balances = gov.standings.balances(scope)
        scope_totals = None if balances else gov.accounts.totals(scope)
    except ServiceError as exc:
        fail(exc.detail)
    except LedgerUnavailable as exc:
        fail(str(exc))
    if scope_totals is not None:
        if as_json:
            out.print_json(json.dumps({"scope": scope, "balances": [], "totals": _totals_json(scope_totals)}))
        else:
            render.totals(out, scope_totals)
        return
    if as_json:
        rows = [
            {
                "quota_id": b.quota_id,
                "metric": b.metric,
                "limit": b.limit,
                "charged": b.charged,
                "reserved": b.reserved,
                "available": b.available,
                "window": b.window,
                "forecast": _forecast_json(b.forecast),
            }
            for b in balances
        ]
        out.print_json(json.dumps({"scope": scope, "balances": rows}))
        return
    render.balances(out, scope, balances)


def _forecast_json(f: Forecast | None) -> dict[str, object] | None:
    if f is None:
        return None
    dry = f.runs_dry_at
    return {
        "rate_per_day": f.rate_per_day,
        "days_to_dry": None if dry is None else f.days_to_dry,
        "runs_dry_at": None if dry is None else dry.isoformat(),
        "balance_at_end": f.balance_at_end,
        "dry_before_end": f.dry_before_end,
    }


def fairshare(
    policy: PolicyOpt = None,
    database_url: DbOpt = None,
    data_dir: DataDirOpt = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """The fair-share tree like ``sshare``: shares and decayed usage per association, level fair share,
    and each user's Fair Tree factor (docs/policy.md, Fair share)."""
    settings = settings_from(policy=policy, database_url=database_url, data_dir=data_dir)
    gov = governance_from(settings, migrate=False, distribute=False)
    try:
        rows = gov.fairshare.tree()
    except LedgerUnavailable as exc:
        fail(str(exc))
    if as_json:  # JSON has no infinity: a level fair share with no usage is null
        infinite = float("inf")
        out.print_json(json.dumps([r._asdict() | {"level_fs": None if r.level_fs == infinite else r.level_fs}
                                   for r in rows]))  # fmt: skip
    else:
        render.fairshare(out, rows)


def _totals_json(t: ScopeTotals) -> dict[str, Any]:
    return {
        "window": t.window,
        "window_start": t.window_start.isoformat(),
        "window_end": t.window_end.isoformat(),
        "charged": dataclasses.asdict(t.charged),
        "reserved": {**dataclasses.asdict(t.reserved), "jobs": t.active.jobs, "gpus": t.active.gpus},
    }


def _redact(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)
