"""Run a ledger transaction again when the database rolled it back for contention (deadlock, serialization).

Every service operation is one transaction whose inputs are fixed before it starts (ids, clock reading,
policy), so running it again is safe: nothing of the failed attempt was committed.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TypeVar

from hpcpolicy.ledger.base import Contention

T = TypeVar("T")

ATTEMPTS = 5


def retrying(fn: Callable[[], T], attempts: int = ATTEMPTS) -> T:
    """``fn()``, retried on :class:`Contention` with a short jittered backoff; the last failure propagates."""
    for attempt in range(1, attempts + 1):
        try:
            return fn()
        except Contention:
            if attempt == attempts:
                raise
            time.sleep(random.uniform(0, 0.005 * 2**attempt))
    raise AssertionError("unreachable")
