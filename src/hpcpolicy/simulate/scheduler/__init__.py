"""Scheduler models for trace replay: strict FIFO and EASY backfilling, both event-driven and heap-based."""

from .easy import schedule_easy
from .fifo import schedule_fifo

__all__ = ["schedule_easy", "schedule_fifo"]
