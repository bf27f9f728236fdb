"""Redis pub/sub as a nudge: "a new policy revision exists, look at the database now".

Why only a nudge: pub/sub delivers at most once, to whoever is connected at that moment. A message can be
lost (a replica reconnecting, Redis restarting, the publisher failing after its database commit), so it
never carries the policy and nothing depends on it arriving; it only shortens the wait from the poll
interval to a few milliseconds. The payload is the revision id, for logs.

Every Redis failure (refused, reset, timed out, a bad URL) surfaces as :class:`BroadcastUnavailable`;
the client's own retries are off, because the caller has its own backoff and an upload must not wait on
them. (A pooled connection that went stale in a Redis restart is replaced on checkout by redis-py.)
"""

from __future__ import annotations

import socket
import time
from typing import Protocol

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

CHANNEL = "hpcpolicy:policy-revisions"


class BroadcastUnavailable(RuntimeError):
    """Redis cannot be reached, or dropped the connection."""


class Subscription(Protocol):
    def wait(self, timeout: float) -> bool:
        """True if a nudge arrived within ``timeout`` seconds; raises BroadcastUnavailable if the link is lost."""
        ...

    def close(self) -> None: ...


class Broadcast(Protocol):
    def publish(self, revision_id: int) -> None: ...

    def subscribe(self) -> Subscription: ...

    def close(self) -> None: ...


class RedisBroadcast:
    """``REDIS_URL`` pub/sub. ``timeout`` bounds connecting and every command, so an upload never hangs on it."""

    def __init__(self, url: str, *, channel: str = CHANNEL, timeout: float = 1.0):
        self.channel = channel
        self._url = url
        self._timeout = timeout
        self._publisher: redis.Redis | None = None  # made on first use: a malformed URL is reported, not fatal

    def _client(self) -> redis.Redis:
        try:
            return redis.Redis.from_url(
                self._url,
                socket_connect_timeout=self._timeout,
                socket_timeout=self._timeout,
                socket_keepalive=True,  # a peer that vanished without closing is noticed, not waited on forever
                socket_keepalive_options=_keepalive_options(),
                retry=Retry(NoBackoff(), 0),
            )
        except ValueError as exc:  # a malformed URL
            raise BroadcastUnavailable(f"invalid Redis URL: {exc}") from exc

    def publish(self, revision_id: int) -> None:
        if self._publisher is None:
            self._publisher = self._client()
        try:
            self._publisher.publish(self.channel, str(revision_id))
        except (redis.RedisError, OSError) as exc:
            raise BroadcastUnavailable(_describe(exc)) from exc

    def subscribe(self) -> RedisSubscription:
        client = self._client()
        pubsub = client.pubsub(ignore_subscribe_messages=True)  # type: ignore[no-untyped-call]  # untyped in redis-py
        try:
            pubsub.subscribe(self.channel)
            return RedisSubscription(client, pubsub)
        except (redis.RedisError, OSError) as exc:
            pubsub.close()
            client.close()
            raise BroadcastUnavailable(_describe(exc)) from exc

    def close(self) -> None:
        if self._publisher is not None:
            self._publisher.close()


class RedisSubscription:
    def __init__(self, client: redis.Redis, pubsub: redis.client.PubSub):
        self._client = client
        self._pubsub = pubsub

    def wait(self, timeout: float) -> bool:
        # get_message returns None early when it consumes a subscribe confirmation: wait out the rest.
        deadline = time.monotonic() + timeout
        while True:
            try:
                remaining = max(0.0, deadline - time.monotonic())
                message = self._pubsub.get_message(ignore_subscribe_messages=True, timeout=remaining)
            except (redis.RedisError, OSError) as exc:
                raise BroadcastUnavailable(_describe(exc)) from exc
            if message is not None and message.get("type") == "message":
                return True
            if time.monotonic() >= deadline:
                return False

    def close(self) -> None:
        try:
            self._pubsub.close()
            self._client.close()
        except (redis.RedisError, OSError):
            pass  # closing a dead connection: nothing left to release


def _keepalive_options() -> dict[int, int]:
    """Probe an idle link after 10 s, every 5 s, give up after 3 misses (about 25 s), where the OS allows."""
    wanted = {"TCP_KEEPIDLE": 10, "TCP_KEEPINTVL": 5, "TCP_KEEPCNT": 3}
    return {getattr(socket, name): value for name, value in wanted.items() if hasattr(socket, name)}


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
