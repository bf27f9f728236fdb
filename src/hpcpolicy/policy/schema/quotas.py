"""Budgets and concurrency limits on a scope of the account tree."""

from __future__ import annotations

from hpcpolicy.policy.schema.common import Model, Name, NonNeg, NonNegInt
from hpcpolicy.policy.schema.windows import Period, Window


class Quota(Model):
    """Budgets and concurrency limits for one scope. An absent metric is unlimited.

    Hour and cost budgets count inside ``window``; concurrency limits (``max_jobs``, ``max_gpus``) count
    jobs holding a reservation or running right now, whatever the window.
    """

    name: Name | None = None
    window: Window = Period.monthly
    cpu_hours: NonNeg | None = None
    gpu_hours: NonNeg | None = None
    cost: NonNeg | None = None
    max_jobs: NonNegInt | None = None
    max_gpus: NonNegInt | None = None
