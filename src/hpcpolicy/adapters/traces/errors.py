"""Malformed-input reporting shared by the trace readers: strict by default, counted when lenient.

Real traces contain the odd broken line. A replay must not silently drop data, so a reader raises
:class:`TraceError` naming file and line; with ``lenient=True`` it skips the line and records it in a
:class:`Problems` tally that the caller can print next to the simulation result.
"""

from __future__ import annotations

from dataclasses import dataclass, field

MAX_MESSAGES = 10


class TraceError(ValueError):
    """A trace line the reader cannot turn into a job; ``str()`` reads ``file:line: message``."""

    def __init__(self, source: str, line: int, message: str) -> None:
        super().__init__(f"{source}:{line}: {message}")
        self.source = source
        self.line = line
        self.message = message


@dataclass(slots=True)
class Problems:
    """Lines skipped in lenient mode: a count plus the first :data:`MAX_MESSAGES` messages."""

    lenient: bool = False
    skipped: int = 0
    messages: list[str] = field(default_factory=list)

    def report(self, error: TraceError) -> None:
        """Raise ``error`` in strict mode; in lenient mode count it and keep its message if there is room."""
        if not self.lenient:
            raise error
        self.skipped += 1
        if len(self.messages) < MAX_MESSAGES:
            self.messages.append(str(error))
