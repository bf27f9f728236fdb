"""Trace time → policy time: the virtual clock a replay decides and charges by.

Scheduler models work in trace seconds (floats, cheap to compare); the policy works in UTC datetimes
(its windows are calendar months, rolling days, fixed allocations). ``epoch`` is the UTC epoch second
of trace time 0: the SWF header's ``UnixStartTime`` for relative traces, 0 for traces that already
hold epochs (sacct, PBS, the Theta conversion), or whatever ``--start`` says. Nothing reads the wall
clock, so a replay gives the same answer every time.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class TraceClock:
    __slots__ = ("epoch",)

    def __init__(self, epoch: float = 0.0) -> None:
        self.epoch = epoch

    def at(self, seconds: float) -> datetime:
        """The UTC instant of trace time ``seconds``."""
        return _EPOCH + timedelta(0, self.epoch + seconds)  # (days, seconds): positional is a fifth faster

    def seconds(self, moment: datetime) -> float:
        """Trace time of a UTC instant (inverse of :meth:`at`)."""
        return (moment - _EPOCH).total_seconds() - self.epoch


class VirtualClock:
    """A settable clock for the service layer's ``Context.clock``: the replay moves it, nothing else."""

    __slots__ = ("now",)

    def __init__(self, now: datetime = _EPOCH) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now
