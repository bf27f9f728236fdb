"""The background thread of a replica: wait for a Redis nudge or the poll interval, then check the database.

Polling never stops, Redis or not: pub/sub can drop a message (see broadcast.py), and one indexed
``max(id)`` every few seconds is cheap. With Redis the wait ends as soon as a nudge arrives.

Redis failures are expected states, not errors to propagate: the thread logs once when the link goes
down and once when it is back, retries with exponential backoff in between, and checks the database
right after every (re)subscription, since nudges sent while it was not listening are lost.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from hpcpolicy.cluster.broadcast import Broadcast, BroadcastUnavailable, Subscription

log = logging.getLogger("hpcpolicy.cluster")

#: Longest blocking read on the subscription, so ``stop()`` is honoured within about this long.
WAIT_SLICE = 0.5


class Backoff:
    """Delays doubling from ``first`` to ``cap``; ``reset()`` after a success."""

    def __init__(self, first: float = 0.5, cap: float = 30.0):
        self.first, self.cap = first, cap
        self.delay = first

    def next(self) -> float:
        delay = self.delay
        self.delay = min(self.delay * 2, self.cap)
        return delay

    def reset(self) -> None:
        self.delay = self.first


class Watcher:
    """Calls ``check(via)`` (``via`` is "nudge" or "poll") from a daemon thread until ``stop()``."""

    def __init__(
        self,
        check: Callable[[str], object],
        broadcast: Broadcast | None,
        poll_seconds: float,
        backoff: Backoff | None = None,
    ):
        self._check = check
        self._broadcast = broadcast
        self._poll = poll_seconds
        self._backoff = backoff or Backoff()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self.redis = "disabled" if broadcast is None else "connecting"
        self.redis_error: str | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="hpcpolicy-policy-sync", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        sub: Subscription | None = None
        next_poll = time.monotonic() + self._poll
        retry_at = 0.0
        while not self._stopping.is_set():
            now = time.monotonic()
            if self._broadcast is not None and sub is None and now >= retry_at:
                sub = self._subscribe(self._broadcast)
                if sub is None:
                    retry_at = now + self._backoff.next()
                else:
                    next_poll = now  # what was announced while we were not listening is lost: look now
            wake = next_poll if sub is not None or self._broadcast is None else min(next_poll, retry_at)
            timeout = max(0.0, wake - now)
            nudged = False
            if sub is not None:
                try:
                    nudged = sub.wait(min(timeout, WAIT_SLICE))
                except BroadcastUnavailable as exc:
                    sub.close()
                    sub = None
                    self._redis_state("unavailable", str(exc))
                    retry_at = time.monotonic() + self._backoff.next()
            else:
                self._stopping.wait(timeout)
            if self._stopping.is_set():
                break
            if nudged or time.monotonic() >= next_poll:
                self._safe_check("nudge" if nudged else "poll")
                next_poll = time.monotonic() + self._poll
        if sub is not None:
            sub.close()

    def _subscribe(self, broadcast: Broadcast) -> Subscription | None:
        try:
            sub = broadcast.subscribe()
        except BroadcastUnavailable as exc:
            self._redis_state("unavailable", str(exc))
            return None
        self._backoff.reset()
        self._redis_state("connected", None)
        return sub

    def _safe_check(self, via: str) -> None:
        try:
            self._check(via)
        except Exception:  # the thread must outlive any one failed check; the next one may succeed
            log.exception("policy revision check failed")

    def _redis_state(self, state: str, error: str | None) -> None:
        if state != self.redis:
            if state == "connected":
                log.info("policy broadcast: subscribed to Redis; replicas are nudged on every policy change")
            else:
                log.warning(
                    "policy broadcast: Redis unavailable (%s); polling the database every %.1f s, retrying Redis",
                    error,
                    self._poll,
                )
        self.redis, self.redis_error = state, error
