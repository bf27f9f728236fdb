"""Workload-trace readers: SWF, Slurm sacct and PBS/Torque accounting logs, all yielding :class:`JobRecord`.

Readers stream (a million-line trace is never held in a list), raise :class:`TraceError` naming file
and line on malformed input, and with ``lenient=True`` skip and count such lines in ``.problems``.
"""

from .errors import Problems, TraceError
from .pbs import PbsTrace, read_pbs
from .record import JobRecord
from .sacct import SacctTrace, read_sacct
from .swf import SwfTrace, read_swf

__all__ = [
    "JobRecord",
    "PbsTrace",
    "Problems",
    "SacctTrace",
    "SwfTrace",
    "TraceError",
    "read_pbs",
    "read_sacct",
    "read_swf",
]
