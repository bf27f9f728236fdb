"""Scheduler models for trace replay: strict FIFO and EASY backfilling, both event-driven and heap-based.

Both are state machines with the same surface (:class:`Model`), so a replay can pick one by name
(:data:`MODELS`) and interleave its own events (policy decisions, charges) with the model's.
"""

from __future__ import annotations

from typing import Protocol

from ..workload import Schedule, SimJob
from .admit import Entry, Intake
from .easy import Easy, schedule_easy
from .fifo import Fifo, schedule_fifo


class Model(Protocol):
    """What a replay needs from a scheduler model."""

    name: str
    schedule: Schedule
    intake: Intake

    def __len__(self) -> int: ...

    def submit(self, job: SimJob) -> bool: ...

    def enqueue(self, entry: Entry) -> None: ...

    def advance(self, until: float) -> None: ...

    def drain(self) -> Schedule: ...


def make_model(name: str, capacity: int, *, kill_at_limit: bool = True) -> Model:
    """A fresh model by name (``fifo`` or ``easy``)."""
    if name == "fifo":
        return Fifo(capacity, kill_at_limit=kill_at_limit)
    if name == "easy":
        return Easy(capacity, kill_at_limit=kill_at_limit)
    raise ValueError(f"unknown scheduler {name!r}: choose one of {', '.join(MODELS)}")


MODELS = ("fifo", "easy")

__all__ = ["MODELS", "Easy", "Entry", "Fifo", "Intake", "Model", "make_model", "schedule_easy", "schedule_fifo"]
