"""The usage snapshot the engine decides against: what each quota has already consumed.

The ledger (or the simulator's in-memory ledger) builds it for one decision: for every quota on the
request's account path, charges plus open liens inside that quota's current window, and for every scope,
the jobs and GPUs currently reserved or running. The engine never asks for more than it is given.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from hpcpolicy.engine.records import fast_init


@fast_init
@dataclass(frozen=True, slots=True)
class Amounts:
    """Metered consumption: CPU-hours, GPU-hours and cost in billing units."""

    cpu_hours: float = 0.0
    gpu_hours: float = 0.0
    cost: float = 0.0

    def __add__(self, other: Amounts) -> Amounts:
        return Amounts(self.cpu_hours + other.cpu_hours, self.gpu_hours + other.gpu_hours, self.cost + other.cost)

    def __sub__(self, other: Amounts) -> Amounts:
        return Amounts(self.cpu_hours - other.cpu_hours, self.gpu_hours - other.gpu_hours, self.cost - other.cost)


@fast_init
@dataclass(frozen=True, slots=True)
class Active:
    """Jobs and GPUs of one scope holding a lien or running now."""

    jobs: int = 0
    gpus: int = 0


ZERO = Amounts()
IDLE = Active()
_EMPTY: Mapping[str, object] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class UsageSnapshot:
    """``consumed`` is keyed by quota id (``project:wgs``, ``team:ai#yearly``) and, for a parent quota with
    guaranteed shares, by ``<quota id>@<child scope>`` (the child's use in the parent's window); ``active``
    by counter (a scope, or ``scope[slice]``); ``previous`` by quota id: what a quota with ``carry_over``
    settled in its previous window."""

    consumed: Mapping[str, Amounts] = field(default_factory=dict)
    active: Mapping[str, Active] = field(default_factory=dict)
    previous: Mapping[str, Amounts] = field(default_factory=dict)


EMPTY_USAGE = UsageSnapshot()
