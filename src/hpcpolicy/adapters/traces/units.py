"""Duration, size and file helpers the readers share, so `12:00:00` means the same in every format.

Each parser raises ``ValueError`` with a short message; the reader wraps it in a
:class:`~hpcpolicy.adapters.traces.errors.TraceError` carrying file and line.
"""

from __future__ import annotations

import gzip
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

_GIB = 1024.0**3
_INT = re.compile(r"\d+")
_NUM = re.compile(r"\d+(?:\.\d*)?")
_UNITS = {"": 1024.0**2, "b": 1.0, "k": 1024.0, "m": 1024.0**2, "g": _GIB, "t": 1024.0**4, "p": 1024.0**5}


@contextmanager
def open_text(path: str | os.PathLike[str]) -> Iterator[TextIO]:
    """Open a trace as text; ``.gz`` files (how the Parallel Workloads Archive ships SWF) are decompressed."""
    name = os.fspath(path)
    if name.endswith(".gz"):
        with gzip.open(name, "rt", encoding="utf-8", errors="replace") as handle:
            yield handle
    else:
        with open(name, encoding="utf-8", errors="replace") as handle:
            yield handle


def parse_duration(text: str) -> float:
    """Seconds from ``SS``, ``MM:SS``, ``HH:MM:SS``, ``D-HH[:MM[:SS]]``, with optional ``.mmm`` fraction.

    A bare number is seconds (Torque ≥ 5.1.2 logs walltime that way); two colon-separated parts are
    ``MM:SS`` because that is how sacct prints short TotalCPU/Elapsed values (``03:00.532``). Single
    digits are accepted (``19:23:4`` occurs in a real Torque log).
    """
    days, dash, rest = text.strip().rpartition("-")
    parts = rest.split(":")
    if len(parts) > 3 or (dash and not _INT.fullmatch(days)) or not all(_NUM.fullmatch(part) for part in parts):
        raise ValueError(f"bad duration {text!r}")
    # D-HH and D-HH:MM are valid Slurm spellings (pad on the right); without days the last part is seconds.
    parts = parts + ["0"] * (3 - len(parts)) if dash else ["0"] * (3 - len(parts)) + parts
    seconds = float(parts[0]) * 3600.0 + float(parts[1]) * 60.0 + float(parts[2])
    return (float(days) * 86400.0 if dash else 0.0) + seconds


def parse_size_gb(text: str, default_unit: str = "m") -> float:
    """GiB from ``8G``, ``5150M``, ``26820K``, ``4000mb``, ``2031040kb`` (binary units, as Slurm and PBS use).

    A number without a unit takes ``default_unit``: megabytes for Slurm memory fields.
    """
    body = text.strip().lower()
    if body.endswith("b") and len(body) > 1 and not body[-2].isdigit():
        body = body[:-1]  # PBS writes "mb", "kb", "gb"
    unit = body[-1] if body and body[-1].isalpha() else ""
    number = body[:-1] if unit else body
    if unit and unit not in _UNITS:
        raise ValueError(f"bad size unit in {text!r}")
    try:
        value = float(number)
    except ValueError:
        raise ValueError(f"bad size {text!r}") from None
    if value < 0:
        raise ValueError(f"negative size {text!r}")
    return value * _UNITS[unit or default_unit] / _GIB
