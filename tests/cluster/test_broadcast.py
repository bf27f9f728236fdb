"""Redis pub/sub against a real server of the test's own, and the reconnect backoff."""

from __future__ import annotations

import pytest

from hpcpolicy.cluster.broadcast import BroadcastUnavailable, RedisBroadcast
from hpcpolicy.cluster.watch import Backoff
from tests.cluster.redisserver import RedisServer, free_port


def test_a_published_revision_wakes_a_subscriber(redis_server: RedisServer) -> None:
    broadcast = RedisBroadcast(redis_server.url)
    sub = broadcast.subscribe()
    assert not sub.wait(0.05)  # nothing published: the wait times out
    broadcast.publish(7)
    assert sub.wait(5)
    sub.close()
    broadcast.close()


def test_a_killed_server_breaks_the_subscription_and_a_restart_heals_publishing(redis_server: RedisServer) -> None:
    broadcast = RedisBroadcast(redis_server.url)
    sub = broadcast.subscribe()
    broadcast.publish(1)  # the publisher now holds a pooled connection
    assert sub.wait(5)
    redis_server.kill()
    with pytest.raises(BroadcastUnavailable, match="Connection refused"):
        sub.wait(1)
    sub.close()
    with pytest.raises(BroadcastUnavailable):
        broadcast.subscribe()
    redis_server.start()
    broadcast.publish(2)  # the stale pooled connection is replaced, not reported as a failure
    broadcast.close()


def test_nothing_listening_is_unavailable() -> None:
    broadcast = RedisBroadcast(f"redis://127.0.0.1:{free_port()}/0", timeout=0.5)
    with pytest.raises(BroadcastUnavailable, match="Connection refused"):
        broadcast.publish(1)
    with pytest.raises(BroadcastUnavailable, match="Connection refused"):
        broadcast.subscribe()


def test_a_malformed_url_is_unavailable_not_a_crash() -> None:
    broadcast = RedisBroadcast("http://127.0.0.1/")
    with pytest.raises(BroadcastUnavailable, match="invalid Redis URL"):
        broadcast.subscribe()
    with pytest.raises(BroadcastUnavailable, match="invalid Redis URL"):
        broadcast.publish(1)


def test_backoff_doubles_to_its_cap_and_resets() -> None:
    backoff = Backoff(0.5, 3.0)
    assert [backoff.next() for _ in range(5)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    backoff.reset()
    assert backoff.next() == 0.5
