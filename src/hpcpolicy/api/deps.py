"""FastAPI dependencies as ``Annotated`` aliases: the service, the authenticated caller, admin checks.

They are ``async def`` although they never await: FastAPI runs a plain ``def`` dependency in a worker
thread, and three thread hand-offs per request cost more than the decision itself. They must therefore
never block (the keys file is re-read only when its ``stat`` changes; JWT checks are CPU only).

Routes declare ``gov: GovernanceDep, caller: CallerDep`` and never build either themselves; the app
factory puts the service and authenticator on ``app.state``, so tests build apps with fakes.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Header, Request

from hpcpolicy.auth import Authenticator, Caller, Identity, require_admin, require_reporter
from hpcpolicy.ledger import deadline
from hpcpolicy.service import Governance

T = TypeVar("T")

#: The pauses of an inline call whose writer is busy, before it goes to the ledger's thread (about 0.1 s in
#: all): the audit sealer's write takes a few milliseconds a second. Handing the call to the thread at once
#: set up a queue there that inline calls could not get past (the thread held the writer whenever one
#: looked), and every call went through the thread again.
INLINE_PAUSES = (0.0005, 0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.032)


class Offload:
    """Runs blocking service calls off the event loop, on an executor sized for the ledger's backend.

    SQLite takes one writer at a time, so its calls go to a single thread: 32 threads contending for one
    lock and the GIL would only add queueing and convoys. Server databases get a small pool.

    ``inline`` (SQLite): a call runs on the event loop itself when the writer is free, and goes to the
    thread only when its first write would wait (:func:`hpcpolicy.ledger.deadline.inline`: another thread
    of this process, or another process, writes). The hand-off to the thread and back cost a reserved
    decision about 0.19 ms of CPU, a sixth of it, measured in-process; SQLite's one writer serialises the
    calls either way, and a call never waits for a lock on the loop (a call's second write session, rare,
    may wait for another thread of this process). A call refused so is run again from the start: what is
    offloaded must therefore do nothing outside the ledger before its first write session (none does: they
    validate, then write).

    Each call has a time budget (``timeout``): past it the request gets a 503 "governance unavailable"
    and the worker's ledger session rolls back instead of committing (see :mod:`hpcpolicy.ledger.deadline`),
    so a slow or hung database cannot leave a reservation nobody was told about.
    """

    def __init__(self, workers: int, timeout: float | None = None, *, inline: bool = False):
        self.executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ledger")
        self.timeout = timeout
        self.inline = inline

    async def __call__(self, fn: Callable[..., T], *args: Any) -> T:
        if self.inline:
            for pause in INLINE_PAUSES:
                try:
                    with deadline.inline():
                        return deadline.run_within(self.timeout, partial(fn, *args))
                except deadline.WriterBusy:
                    await asyncio.sleep(pause)  # another writer holds SQLite: let it finish, then try again
            # Still busy (a long write, another process): wait for it on the ledger's thread, not on the loop.
        call = partial(deadline.run_within, self.timeout, partial(fn, *args))
        # In the request's context: the ledger's audit events carry its X-Request-ID (a contextvar).
        future = asyncio.get_running_loop().run_in_executor(self.executor, contextvars.copy_context().run, call)
        if self.timeout is None:
            return await future
        try:
            return await asyncio.wait_for(future, self.timeout)
        except TimeoutError:
            raise deadline.LedgerTimeout.after(self.timeout) from None

    def close(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)


async def offload(request: Request) -> Offload:
    runner: Offload = request.app.state.offload
    return runner


async def read_offload(request: Request) -> Offload:
    """The executor of long reads (reports): apart from :func:`offload`'s, so that on SQLite, whose one
    ledger thread serialises writers, a report never holds up admissions (it reads a snapshot of its own)."""
    runner: Offload = request.app.state.reads
    return runner


async def governance(request: Request) -> Governance:
    gov: Governance = request.app.state.governance
    return gov


async def caller(
    request: Request,
    authorization: Annotated[str | None, Header()] = None,
    x_api_key: Annotated[str | None, Header()] = None,
) -> Caller:
    authenticator: Authenticator = request.app.state.authenticator
    who = authenticator.resolve(authorization, x_api_key)
    request.state.caller = who.principal
    return who


def identity(
    who: Caller, gov: Governance, user_id: str | None, roles: Iterable[str], groups: Iterable[str]
) -> Identity:
    """``who.identity_for(...)``, with the groups narrowed to those the current policy names.

    A token's groups claim may list hundreds of directory groups; only the policy's can change a decision,
    and a request holds at most :data:`~hpcpolicy.engine.request.MAX_GROUPS`.
    """
    found = who.identity_for(user_id, roles, groups)
    named = gov.ctx.policies.current.snapshot.members.named(found.groups)
    return found._replace(groups=named) if named != found.groups else found


async def admin(who: Annotated[Caller, Depends(caller)]) -> Caller:
    require_admin(who)
    return who


async def reporter(who: Annotated[Caller, Depends(caller)]) -> Caller:
    """A caller that may report usage facts (before the body is looked at: who, then what)."""
    require_reporter(who)
    return who


OffloadDep = Annotated[Offload, Depends(offload)]
ReadOffloadDep = Annotated[Offload, Depends(read_offload)]
GovernanceDep = Annotated[Governance, Depends(governance)]
CallerDep = Annotated[Caller, Depends(caller)]
AdminDep = Annotated[Caller, Depends(admin)]
ReporterDep = Annotated[Caller, Depends(reporter)]
