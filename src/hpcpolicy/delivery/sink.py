"""What a delivery worker asks of a sink, and how a sink says it failed part-way.

A sink delivers a batch of sealed events in ``seq`` order and answers only for a prefix: ``deliver`` returns
when every event was acknowledged, or raises :class:`SinkError` saying how many leading events were, so the
worker advances its cursor exactly that far and delivers the rest again after a pause. ``open`` (re)connects
and may report the last event the sink already holds, which lets the worker skip what a previous holder
delivered but could not record (JetStream keeps it; a webhook cannot say).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from hpcpolicy.ledger.events import Event


class SinkError(RuntimeError):
    """The sink did not acknowledge every event: the first ``acked`` were, the rest must go again."""

    def __init__(self, message: str, acked: int = 0):
        super().__init__(message)
        self.acked = acked


@dataclass(frozen=True, slots=True)
class Stored:
    """The last event a sink holds: its ``seq`` and CloudEvents id (compared with the ledger's before use)."""

    seq: int
    event_id: str


class Sink(Protocol):
    #: The cursor's and the lease's name: ``nats``, ``webhook``.
    name: str

    async def open(self) -> Stored | None:
        """Connect (again, after a failure) and say what the sink holds last, if it can tell."""
        ...

    async def deliver(self, events: Sequence[Event]) -> None:
        """Send ``events`` (consecutive, in ``seq`` order) and return once all are acknowledged; raise
        :class:`SinkError` otherwise (any other exception counts as none acknowledged)."""
        ...

    async def close(self) -> None: ...
