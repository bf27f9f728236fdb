"""The priority of held work: fair share, age and size, weighted as Slurm's multifactor plugin does.

One function, shared by the admission queue's dispatcher and ``simulate --scheduler fairshare``, so the
replay orders work exactly as the service will. Pure: the factors come in, a number goes out.
"""

from __future__ import annotations

from hpcpolicy.policy.schema.fairshare import PriorityWeights


def priority(weights: PriorityWeights, fairshare: float, waited_seconds: float, size: float) -> float:
    """``fairshare`` is the owner's factor in (0, 1] (1 when fair share has nothing to say), ``waited_seconds``
    the time since the request was first held, ``size`` the job's fraction of its partition in [0, 1]."""
    age = min(max(waited_seconds, 0.0) / (weights.max_age_hours * 3600), 1.0)
    size = min(max(size, 0.0), 1.0)
    return (
        weights.fairshare * fairshare
        + weights.age * age
        + weights.size * (1.0 - size if weights.favor_small else size)
    )
