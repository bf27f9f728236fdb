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
from hpcpolicy.ledger.sql.ledger import SqlLedger
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

    ``groups`` (SQLite): :meth:`grouped` calls of one turn of the loop share a transaction and a commit
    (:mod:`hpcpolicy.ledger.sql.group`); any other call commits the open group before it runs.

    Each call has a time budget (``timeout``): past it the request gets a 503 "governance unavailable"
    and the worker's ledger session rolls back instead of committing (see :mod:`hpcpolicy.ledger.deadline`),
    so a slow or hung database cannot leave a reservation nobody was told about.
    """

    def __init__(
        self, workers: int, timeout: float | None = None, *, inline: bool = False, groups: SqlLedger | None = None
    ):
        self.executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ledger")
        self.timeout = timeout
        self.inline = inline
        #: The ledger whose inline calls may share a commit (:meth:`grouped`); the open group's members
        #: waiting for its commit, and the loop its commit is scheduled on.
        self.groups = groups if inline else None
        self._members: list[asyncio.Future[None]] = []
        self._scheduled: asyncio.AbstractEventLoop | None = None

    async def __call__(self, fn: Callable[..., T], *args: Any) -> T:
        return await self._run(partial(fn, *args), grouped=False)

    async def grouped(self, fn: Callable[..., T], *args: Any) -> T:
        """As a call, but an inline call's writes may share one transaction with the other grouped calls of
        this turn of the event loop (group commit, :mod:`hpcpolicy.ledger.sql.group`); the result comes
        once that transaction has committed; if that commit failed, the call runs again on its own.
        Only for calls that act on nothing after their writes but their answer."""
        return await self._run(partial(fn, *args), grouped=self.groups is not None)

    async def _run(self, fn: Callable[[], T], *, grouped: bool) -> T:
        if self.inline:
            for pause in INLINE_PAUSES:
                try:
                    return await self._inline(fn, grouped)
                except deadline.WriterBusy:
                    await asyncio.sleep(pause)  # another writer holds SQLite: let it finish, then try again
            # Still busy (a long write, another process): wait for it on the ledger's thread, not on the loop.
        job = partial(deadline.run_within, self.timeout, fn)
        # In the request's context: the ledger's audit events carry its X-Request-ID (a contextvar).
        future = asyncio.get_running_loop().run_in_executor(self.executor, contextvars.copy_context().run, job)
        if self.timeout is None:
            return await future
        try:
            return await asyncio.wait_for(future, self.timeout)
        except TimeoutError:
            raise deadline.LedgerTimeout.after(self.timeout) from None

    async def _inline(self, fn: Callable[[], T], grouped: bool) -> T:
        """``fn`` on the loop (:class:`~hpcpolicy.ledger.deadline.WriterBusy` if its first write would wait).
        A call that joined a group gets its answer, an error included, once the group has committed; if
        that commit failed, nothing of it was written, and it runs again on its own."""
        group = self.groups.group if self.groups is not None else None
        if group is not None and (not grouped or group.full or self._scheduled is not asyncio.get_running_loop()):
            self._commit()  # commits on its own, a full group, or one left by another loop: that group first
        error: Exception | None = None
        with deadline.inline(grouped=grouped) as call:
            try:
                result = deadline.run_within(self.timeout, fn)
            except deadline.WriterBusy:
                raise  # nothing was done
            except Exception as exc:
                error = exc
            committed = self._commit_soon(call.joined)
        if committed is not None:
            try:
                await committed
            except Exception:
                if error is None:
                    return await self._run(fn, grouped=False)
        if error is not None:
            raise error
        return result

    def _commit_soon(self, joined: bool) -> asyncio.Future[None] | None:
        """Schedule the open group's commit (once per group) after what else is ready in this turn of the
        loop: the calls that can still join it. A call that ``joined`` it gets a future of that commit: one
        per member, so that a request cancelled while it waits cancels its own, not the others'."""
        if self.groups is None or self.groups.group is None:
            return None
        loop = asyncio.get_running_loop()
        if self._scheduled is not loop:
            self._scheduled = loop
            loop.call_soon(self._commit)
        if not joined:
            return None
        member: asyncio.Future[None] = loop.create_future()
        self._members.append(member)
        return member

    def _commit(self) -> None:
        """Commit the open group and tell its members (nothing to do when it was committed already)."""
        members, self._members, self._scheduled = self._members, [], None
        assert self.groups is not None
        try:
            self.groups.commit_group()
        except Exception as exc:
            for member in members:
                if not member.done() and not member.get_loop().is_closed():
                    member.set_exception(exc)
                    member.add_done_callback(_retrieved)  # a failure no member waits for is not logged
        else:
            for member in members:
                if not member.done() and not member.get_loop().is_closed():
                    member.set_result(None)

    def close(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)


def _retrieved(future: asyncio.Future[None]) -> None:
    if not future.cancelled():
        future.exception()


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
