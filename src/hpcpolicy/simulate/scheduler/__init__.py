"""Scheduler models for trace replay: strict FIFO, EASY backfilling and EASY over fair-share priorities.

All are state machines with the same surface (:class:`Model`), so a replay can pick one by name
(:data:`MODELS`) and interleave its own events (policy decisions, charges) with the model's. The
``fairshare`` model is :class:`Easy` with an :class:`Ordering` (the replay's fair share supplies it).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Protocol

from ..workload import Schedule, SimJob
from .admit import Entry, Intake
from .easy import Easy, schedule_easy
from .fifo import Fifo, schedule_fifo
from .ranked import Ordering


class Model(Protocol):
    """What a replay needs from a scheduler model."""

    name: str
    schedule: Schedule
    intake: Intake

    def __len__(self) -> int: ...

    def submit(self, job: SimJob) -> bool: ...

    def enqueue(self, entry: Entry) -> None: ...

    def advance(self, until: float) -> None: ...

    def next_end(self) -> float: ...

    def drain(self) -> Schedule: ...


def instants(model: Model, until: float) -> Iterator[float]:
    """Advance ``model`` one completion instant at a time up to ``until``, yielding each instant once the
    completions at it and the starts they allow are done (for a replay that acts between completions)."""
    while (end := model.next_end()) <= until and end != math.inf:  # infinity: nothing runs
        model.advance(end)
        yield end


def make_model(name: str, capacity: int, *, kill_at_limit: bool = True, ordering: Ordering | None = None) -> Model:
    """A fresh model by name (``fifo``, ``easy``, or ``fairshare``, which needs the ``ordering``)."""
    if name == "fifo":
        return Fifo(capacity, kill_at_limit=kill_at_limit)
    if name == "easy":
        return Easy(capacity, kill_at_limit=kill_at_limit)
    if name == "fairshare":
        if ordering is None:
            raise ValueError("the fairshare scheduler needs an ordering (fair-share priorities)")
        return Easy(capacity, kill_at_limit=kill_at_limit, ordering=ordering)
    raise ValueError(f"unknown scheduler {name!r}: choose one of {', '.join(MODELS)}")


MODELS = ("fifo", "easy", "fairshare")

__all__ = [
    "MODELS",
    "Easy",
    "Entry",
    "Fifo",
    "Intake",
    "Model",
    "Ordering",
    "instants",
    "make_model",
    "schedule_easy",
    "schedule_fifo",
]
