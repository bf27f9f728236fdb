"""The ``fairshare`` model without a policy (``simulate --no-policy --scheduler fairshare``).

With no policy there is no ledger to read usage from and no account tree: each trace user (as the identity
mapping names them) is a user at the root with one share, under the policy defaults of ``fairshare``
(a 7-day half-life, the default priority weights), and a job's usage is its processor-hours, counted as
CPU-hours — the estimate (processors × requested time) while it runs, processors × run time once it ends.
That is what the service would count for the same jobs under a policy without rates, shares or weights,
so ``--compare no-policy`` shows the policy's effect rather than a different notion of usage.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from heapq import heappop, heappush

from hpcpolicy.engine import Amounts
from hpcpolicy.engine.fairusage import Association

from .fairshare import FairSharePriorities
from .scheduler import Model, instants
from .source import TraceJob
from .workload import Schedule


def replay_unpoliced(
    jobs: Iterable[Sequence[TraceJob]],
    model: Model,
    priorities: FairSharePriorities,
    who: Callable[[TraceJob], Association],
) -> Schedule:
    """Replay the chunks of ``jobs`` on ``model``, feeding ``priorities`` the usage of every job it ran."""
    usage, placements, entry_for = priorities.usage, model.schedule.placements, model.intake.entry
    capacity = model.schedule.capacity  # a job's size: its fraction of the machine
    owners: dict[str, tuple[Association, float]] = {}  # job id → (association, requested hours)
    ends: list[tuple[float, float, str, int]] = []  # heap (end, start, job id, processors)
    seen = 0

    def catch_up(t: float) -> None:
        nonlocal seen
        for end in instants(model, t):
            for placement in placements[seen:]:
                owner, hours = owners.pop(placement.id)
                priorities.forget(placement.id)
                usage.started(placement.id, owner, Amounts(placement.procs * hours), hours, placement.start)
                heappush(ends, (placement.end, placement.start, placement.id, placement.procs))
            seen = len(placements)
            while ends and ends[0][0] <= end:
                stop, start, job_id, procs = heappop(ends)
                usage.finished(job_id, Amounts(procs * (stop - start) / 3600.0), stop)

    for chunk in jobs:
        for job in chunk:
            entry = entry_for(job.sim)
            if entry is not None:
                catch_up(entry[1])
                owner = owners[job.sim.id] = who(job), entry[3] / 3600.0
                priorities.register(job.sim.id, owner[0], entry[2] / capacity)
                model.enqueue(entry)
    catch_up(float("inf"))
    return model.drain()
