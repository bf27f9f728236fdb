"""A per-thread deadline that ledger sessions honour: no commit after the caller has given up.

The HTTP layer waits a bounded time for a ledger call and answers 503 when it runs out. Without this,
the abandoned call could still commit a lien nobody was told about. The worker thread sets the deadline
before running the call; a session checks it when it opens and again just before it commits, and rolls
back instead. (A commit already under way when the deadline passes finishes; a client that retries with
the same idempotency key then gets that recorded answer.)
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from hpcpolicy.ledger.base import LedgerUnavailable

T = TypeVar("T")

_local = threading.local()


class LedgerTimeout(LedgerUnavailable):
    """The ledger did not finish within the request's time budget; the transaction was rolled back."""

    @classmethod
    def after(cls, seconds: float) -> LedgerTimeout:
        return cls(f"the ledger did not answer within {seconds:g} s; nothing was written")


class WriterBusy(Exception):
    """The first write of an inline call found the ledger's writer busy (another thread or process holds
    it): nothing was done, and the caller runs the call again where waiting is harmless (a ledger thread)."""


class InlineCall:
    """What the ledger's sessions need to know of the inline call running on this thread.

    ``first``: its first write session has not opened yet (that one must not wait for the writer);
    ``grouped``: its write sessions may join the loop's open group transaction
    (:mod:`hpcpolicy.ledger.sql.group`); ``joined``: one did, so its writes are committed only with the
    group, and its caller must not answer before then.
    """

    __slots__ = ("first", "grouped", "joined")

    def __init__(self, grouped: bool):
        self.first = True
        self.grouped = grouped
        self.joined = False


@contextmanager
def inline(*, grouped: bool = False) -> Iterator[InlineCall]:
    """Calls in this block run on a thread that must not wait for the writer (the event loop): their first
    write session raises :class:`WriterBusy` instead of waiting (:func:`take_nowait`). ``grouped``: their
    write sessions may share a transaction with other such calls (committed by the caller afterwards)."""
    previous = getattr(_local, "inline", None)
    _local.inline = call = InlineCall(grouped)
    try:
        yield call
    finally:
        _local.inline = previous


def current() -> InlineCall | None:
    """The inline call running on this thread, if any."""
    call: InlineCall | None = getattr(_local, "inline", None)
    return call


def take_nowait() -> bool:
    """Whether the write session opening now is an inline call's first (it must not wait for the writer);
    asked once per session. A later one waits: redoing the call elsewhere would redo what committed."""
    call = current()
    if call is None or not call.first:
        return False
    call.first = False
    return True


@contextmanager
def deadline(seconds: float | None) -> Iterator[None]:
    """Sessions opened in this block (on this thread) must commit within ``seconds`` from now."""
    previous = getattr(_local, "at", None)
    _local.at = time.monotonic() + seconds if seconds is not None else None
    _local.budget = seconds
    try:
        yield
    finally:
        _local.at = previous


def run_within(seconds: float | None, fn: Callable[[], T]) -> T:
    with deadline(seconds):
        return fn()


def check() -> None:
    """Raise :class:`LedgerTimeout` if this thread's deadline has passed."""
    at = getattr(_local, "at", None)
    if at is not None and time.monotonic() > at:
        raise LedgerTimeout.after(_local.budget)
