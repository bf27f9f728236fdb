"""Queued admission in a replay: jobs refused only by transient limits, held until a slot they wait for frees.

The service's admission queue (:mod:`hpcpolicy.service.holding`, :mod:`hpcpolicy.service.dispatcher`)
holds a request whose every violation is transient, makes a newcomer wait behind held requests for the
same limit, refuses a user's request beyond ``max_per_user`` held ones, lets a request wait ``ttl`` at
most, and when a slot frees decides again the requests held on it. The replay does the same with the
same rules (``holdable``, ``blocked_by``, ``behind_the_queue``, ``queue_full`` are the service's), so that
an admin sees the waits the queue would cause instead of a count of denials.

Which held jobs are worth deciding again when a job ends? Only those held by a quota with a concurrency
limit on that job's path (:func:`~hpcpolicy.service.holding.concurrency_limits`): any other would be
refused for the same reason again. This module is the bookkeeping (who is held, on which quotas, which
quotas freed, who expires when); the replay loop decides the candidates (:mod:`.replay`).
"""

from __future__ import annotations

from dataclasses import dataclass
from heapq import heappop, heappush

from hpcpolicy.engine import Decision
from hpcpolicy.service.context import QueueSettings
from hpcpolicy.service.holding import blocked_by

from .scheduler import Entry
from .source import TraceJob


@dataclass(slots=True)
class Held:
    """A held job: its trace job and queue entry, whose it is, when it was first held, the last decision
    about it and the quotas that hold it (``group``: jobs held by the same quotas wait for the same slots)."""

    job: TraceJob
    entry: Entry
    user: str
    at: float
    decision: Decision
    group: tuple[str, ...]
    rank: tuple[int, int] = (0, 0)  # (−priority, arrival) under the fair-share factors of ``version``
    version: int = -1


class AdmissionQueue:
    """Held jobs indexed by the quotas that hold them, the quotas freed since the last pass, and expiries."""

    def __init__(self, settings: QueueSettings | None = None) -> None:
        self.settings = settings or QueueSettings()
        self.ttl = self.settings.ttl.total_seconds()
        self.jobs: dict[str, Held] = {}
        self.by_quota: dict[str, dict[str, Held]] = {}
        self.per_user: dict[str, int] = {}
        self.freed: set[str] = set()
        self.expiring: list[tuple[float, int, str]] = []  # heap (expiry, arrival, job id)
        self.expired = 0

    def __len__(self) -> int:
        return len(self.jobs)

    def waited_for(self, quota_ids: list[str]) -> list[str]:
        """Those of ``quota_ids`` a held job waits for a slot of (``behind_the_queue`` asks)."""
        return sorted(quota for quota in quota_ids if quota in self.by_quota)

    def queued_count(self, user: str) -> int:
        return self.per_user.get(user, 0)

    def hold(self, job: TraceJob, entry: Entry, user: str, decision: Decision, t: float) -> Held:
        held = self.jobs[job.sim.id] = Held(job, entry, user, t, decision, blocked_by(decision))
        self._index(held)
        self.per_user[user] = self.per_user.get(user, 0) + 1
        heappush(self.expiring, (t + self.ttl, entry[0], job.sim.id))
        return held

    def again(self, held: Held, decision: Decision) -> None:
        """Decided again and still refused for transient reasons only: held on what holds it now."""
        self._unindex(held)
        held.decision, held.group = decision, blocked_by(decision)
        self._index(held)

    def release(self, held: Held) -> None:
        """No longer held: admitted, refused for good, or past its TTL."""
        del self.jobs[held.job.sim.id]
        self._unindex(held)
        self.per_user[held.user] -= 1

    def ended(self, quotas: tuple[str, ...]) -> None:
        """A job holding slots on ``quotas`` ended."""
        if self.jobs:
            self.freed.update(quotas)

    def due(self) -> list[Held]:
        """The held jobs held by a quota freed since the last call, each once."""
        freed, self.freed = self.freed, set()
        found: dict[str, Held] = {}
        for quota in freed:
            found.update(self.by_quota.get(quota, {}))
        return list(found.values())

    def expire(self, now: float) -> list[Held]:
        """The held jobs whose wait reached the TTL at ``now``, released (as the dispatcher expires them)."""
        gone = []
        while self.expiring and self.expiring[0][0] <= now:
            held = self.jobs.get(heappop(self.expiring)[2])
            if held is not None:
                self.release(held)
                gone.append(held)
        self.expired += len(gone)
        return gone

    def _index(self, held: Held) -> None:
        for quota in held.group:
            self.by_quota.setdefault(quota, {})[held.job.sim.id] = held

    def _unindex(self, held: Held) -> None:
        job_id = held.job.sim.id
        for quota in held.group:
            waiting = self.by_quota[quota]
            del waiting[job_id]
            if not waiting:
                del self.by_quota[quota]
