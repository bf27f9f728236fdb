"""``create_app``: the FastAPI application around a built service and an authenticator.

No import-time globals: the CLI's ``serve`` (or a test) builds the service and passes it in.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from functools import partial

from fastapi import FastAPI, Response
from fastapi.routing import APIRoute
from fastapi.telemetry import TelemetryConfig
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.concurrency import run_in_threadpool

from hpcpolicy import __version__, ui
from hpcpolicy.adapters.slurm.identity import DEFAULT_NSS_CACHE_SECONDS, CachedResolver, Resolver, system_user
from hpcpolicy.api import hot, openapi, problems
from hpcpolicy.api.alert_worker import AlertWorker
from hpcpolicy.api.deps import Offload
from hpcpolicy.api.limits import BodyLimits, LimitBodies
from hpcpolicy.api.middleware import RequestContext
from hpcpolicy.api.queue_worker import QueueWorker, Waiters
from hpcpolicy.api.routes import (
    accounts,
    compat,
    decisions,
    events,
    fairshare,
    jobs,
    policy,
    queue,
    ready,
    reports,
    slurm,
)
from hpcpolicy.api.routes import alerts as alert_routes
from hpcpolicy.auth import Authenticator
from hpcpolicy.delivery.metrics import DeliveryCollector
from hpcpolicy.delivery.worker import DeliveryWorker
from hpcpolicy.ledger.sql.audit import seal
from hpcpolicy.ledger.sql.ledger import SqlLedger
from hpcpolicy.observability.metrics import Metrics
from hpcpolicy.observability.sampling import LedgerSampler, MetricsObserver
from hpcpolicy.service import Governance

log = logging.getLogger("hpcpolicy.api")
#: Threads running reports (long reads) on a SQL ledger, beside the ledger threads of decisions.
READ_WORKERS = 2


def create_app(
    governance: Governance,
    authenticator: Authenticator,
    metrics: Metrics | None = None,
    *,
    ledger_workers: int | None = None,
    request_timeout: float | None = 10.0,
    limits: BodyLimits = BodyLimits(),
    deliveries: Sequence[DeliveryWorker] = (),
    secure_cookies: bool = False,
    unix_users: Resolver | None = None,
) -> FastAPI:
    """``ledger_workers``: threads running ledger calls (default 1 on SQLite, 8 on a database server);
    ``request_timeout``: seconds a request may wait for the ledger before a 503 (None: no limit);
    ``limits``: body size and time (413 and 408 before any route runs, authentication included);
    ``deliveries``: audit delivery workers to run in the background (hpcpolicy.delivery.setup);
    ``secure_cookies``: the dashboard's session cookie is ``Secure`` even on http (TLS ends at a proxy);
    ``unix_users``: how the Slurm routes resolve uids (default: NSS, answers kept a minute)."""
    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        housekeeping = asyncio.create_task(_checkpoint_every_second(governance))
        keys_watch = asyncio.create_task(_follow_keys_file(authenticator))
        delivering = [asyncio.create_task(worker.run()) for worker in deliveries]
        dispatching = asyncio.create_task(queue_worker.run())
        alerting = asyncio.create_task(alert_worker.run())
        yield
        await queue_worker.stop()
        dispatching.cancel()
        alert_worker.stop()
        await asyncio.wait([alerting], timeout=5.0)
        alerting.cancel()
        governance.alerts.channels.close()
        housekeeping.cancel()
        keys_watch.cancel()
        await _stop_deliveries(deliveries, delivering)
        if (sync := governance.ctx.policies.distribution) is not None:
            sync.stop()  # the policy watcher thread and its Redis connections
        app.state.offload.close()
        app.state.reads.close()

    app = FastAPI(
        lifespan=lifespan,
        title="hpc-policy-engine",
        version=__version__,
        description="May this job run here, now, and at whose expense? Explainable decisions, budgets, liens.",
        telemetry=_telemetry(os.environ),
    )
    app.state.governance = governance
    app.state.waiters = waiters = Waiters()
    queue_worker = QueueWorker(governance, waiters)
    alert_worker = AlertWorker(governance)
    app.state.authenticator = authenticator
    app.state.unix_users = unix_users or CachedResolver(system_user, DEFAULT_NSS_CACHE_SECONDS)
    sql = isinstance(governance.ctx.ledger, SqlLedger)
    inline = _on_sqlite(governance)
    groups = governance.ctx.ledger if inline and isinstance(governance.ctx.ledger, SqlLedger) else None
    app.state.offload = Offload(ledger_workers or _workers_for(governance), request_timeout, inline=inline,
                                groups=groups)  # fmt: skip
    # Reports read a snapshot on connections of their own; the in-memory ledger has one thread, so shares it.
    app.state.reads = Offload(READ_WORKERS, request_timeout) if sql else app.state.offload
    app.state.metrics = metrics = metrics or Metrics()
    metrics.sample(LedgerSampler(governance))
    if deliveries:
        metrics.registry.register(DeliveryCollector(deliveries))
    governance.ctx.observers.subscribe(MetricsObserver(metrics))
    problems.install(app)
    openapi.install(app)
    modules = (decisions, compat, slurm, ready, queue, jobs, accounts, alert_routes, fairshare, events, policy, reports)
    for module in modules:  # the busiest first: this FastAPI tries each included router in turn
        app.include_router(module.router)
    hot.install(app, [route for module in modules for route in module.router.routes if isinstance(route, APIRoute)])
    ui.mount(app, secure_cookies=secure_cookies)

    @app.get("/metrics", include_in_schema=False)
    async def prometheus() -> Response:
        body = await run_in_threadpool(generate_latest, metrics.registry)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    app.add_middleware(LimitBodies, limits=limits, larger={("PUT", "/v1/policy"): limits.max_policy_bytes})
    app.add_middleware(RequestContext)  # added last, so outermost: refusals get a request id and a log line too
    return app


#: Seconds between sweeps of the reservations that lapsed (``Jobs.expire``): a lapsed reservation already
#: counts for nothing; the sweep says so in the audit log and keeps a balance's read of the lapsed short.
EXPIRE_EVERY = 10


async def _checkpoint_every_second(governance: Governance) -> None:
    """Background work of a SQL ledger, off the request path on the default executor: WAL checkpoints
    (SQLite), sealing the audit events committed since the last second into their hash chain, and every
    :data:`EXPIRE_EVERY` seconds marking the lapsed reservations expired."""
    ledger = governance.ctx.ledger
    if not isinstance(ledger, SqlLedger):
        return
    loop = asyncio.get_running_loop()
    every_second = (ledger.checkpoint, partial(seal, ledger)) if ledger.audit else (ledger.checkpoint,)
    for tick in itertools.count(1):
        await asyncio.sleep(1.0)
        for task in (*every_second, governance.jobs.expire) if tick % EXPIRE_EVERY == 0 else every_second:
            try:
                await loop.run_in_executor(None, task)
            except Exception as exc:  # a busy or lost database: the next second tries again
                log.debug("%s skipped: %s", getattr(task, "__name__", "seal"), exc)


async def _stop_deliveries(workers: Sequence[DeliveryWorker], tasks: list[asyncio.Task[bool]]) -> None:
    """Let each delivery worker finish its step and release its lease (another replica takes over at once);
    cancel what has not stopped within 5 s."""
    for worker in workers:
        worker.stop()
    if tasks:
        _, late = await asyncio.wait(tasks, timeout=5.0)
        for task in late:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def _follow_keys_file(authenticator: Authenticator, interval: float = 0.5) -> None:
    """Look at the keys file twice a second, so a key created or a file removed is logged (and in force)
    within a second even when no request comes; requests look at it themselves too."""
    while True:
        await asyncio.sleep(interval)
        try:
            authenticator.refresh()
        except Exception:  # never let the watch die: the next look tries again
            log.exception("checking the keys file failed")


def _telemetry(env: Mapping[str, str]) -> TelemetryConfig | None:
    """FastAPI's OpenTelemetry instrumentation as FastAPI sets it up when the environment configures
    OpenTelemetry (``OTEL_*``, ``FASTAPI_OTEL_AUTO_CONFIGURE``); otherwise off, so that no request asks the
    global providers whether they are configured (Prometheus' /metrics is the service's own telemetry)."""
    if any(name.startswith("OTEL_") or name == "FASTAPI_OTEL_AUTO_CONFIGURE" for name in env):
        return None
    return {"tracing": False, "metrics": False, "logs": False}


def _on_sqlite(governance: Governance) -> bool:
    engine = getattr(governance.ctx.ledger, "engine", None)
    return engine is not None and engine.dialect.name == "sqlite"


def _workers_for(governance: Governance) -> int:
    """One thread for SQLite (one writer at a time anyway) and the in-memory ledger; 8 for a server."""
    sql = getattr(governance.ctx.ledger, "engine", None) is not None
    return 8 if sql and not _on_sqlite(governance) else 1
