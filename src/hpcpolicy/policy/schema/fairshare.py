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


class PriorityWeights(Model):
    """How held work is ordered (Slurm's multifactor priority, three of its factors): ``fairshare`` times
    the user's fair-share factor, plus ``age`` times the time waited over ``max_age_hours`` (capped at 1),
    plus ``size`` times the job's share of its partition (``favor_small`` turns that into 1 − share).

    With ``age`` at least ``fairshare`` (the default), a request that has waited ``max_age_hours`` outranks
    every newer one, whatever its owner's usage: age bounds the wait, so nothing starves. Keep
    ``max_age_hours`` long against the usual wait (a week by default): a short one lets age outweigh fair
    share, and users with big jobs, who wait longer between admissions, get more than their share."""

    fairshare: NonNeg = 1000.0
    age: NonNeg = 1000.0
    size: NonNeg = 0.0
    max_age_hours: Annotated[float, Field(gt=0, le=87600)] = 168.0  # Slurm's PriorityMaxAge default, 7 days
    favor_small: bool = True


class FairShare(Model):
    """``shares``: raw shares by scope (``org:o``, ``team:t``, ``project:p``, ``user:u`` for every project
    of that user, ``project:p/user:u`` for one); 1 where unnamed. ``half_life_days``: usage halves this
    often. ``usage``: weights of CPU-hours, GPU-hours and cost. ``priority``: how the admission queue and
    ``simulate --scheduler fairshare`` order waiting work."""

    half_life_days: Annotated[float, Field(gt=0, le=3650)] = 7.0
    usage: UsageWeights = UsageWeights()
    priority: PriorityWeights = PriorityWeights()
    shares: dict[Annotated[str, Field(max_length=300, pattern=_SCOPE)], NonNeg] = {}
