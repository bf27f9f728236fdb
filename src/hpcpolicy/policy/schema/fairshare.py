"""Fair share (v2): the shares promised to each account and how usage is counted and forgotten.

Read by :mod:`hpcpolicy.service.fairshare` (Slurm's Fair Tree over org → team → project → user); the
admission queue orders held work by it.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from hpcpolicy.policy.schema.common import Model, NonNeg

_SCOPE = r"^(org|team|project|user):[A-Za-z0-9][A-Za-z0-9_.@-]*(/user:[A-Za-z0-9][A-Za-z0-9_.@-]*)?$"


class UsageWeights(Model):
    """How an hour of each kind counts towards fair-share usage (Slurm's TRES billing weights)."""

    cpu_hours: NonNeg = 1.0
    gpu_hours: NonNeg = 1.0
    cost: NonNeg = 0.0


class FairShare(Model):
    """``shares``: raw shares by scope (``org:o``, ``team:t``, ``project:p``, ``user:u`` for every project
    of that user, ``project:p/user:u`` for one); 1 where unnamed. ``half_life_days``: usage halves this
    often. ``usage``: weights of CPU-hours, GPU-hours and cost."""

    half_life_days: Annotated[float, Field(gt=0, le=3650)] = 7.0
    usage: UsageWeights = UsageWeights()
    shares: dict[Annotated[str, Field(max_length=300, pattern=_SCOPE)], NonNeg] = {}
