"""Capped exponential backoff with jitter: how long a worker waits before delivering again after a failure.

Each failure doubles the delay from ``first`` up to ``cap``; the wait is drawn from the upper half of it
("equal jitter"), so replicas and workers that failed together do not retry in step, yet never retry sooner
than half the nominal delay. A success starts over from ``first``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass
class Backoff:
    first: float = 0.1
    cap: float = 30.0
    failures: int = 0
    rng: random.Random = field(default_factory=random.Random)

    def next(self) -> float:
        """The pause before the next attempt (and count this failure)."""
        nominal: float = min(self.cap, self.first * 2.0 ** min(self.failures, 32))
        self.failures += 1
        return nominal / 2 + self.rng.uniform(0, nominal / 2)

    def reset(self) -> None:
        self.failures = 0
