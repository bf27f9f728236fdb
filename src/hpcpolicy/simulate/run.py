"""One simulation variant end to end: a scheduler model, with or without a policy, over a loaded trace.

This is the one place that wires a replay together (model, memory ledger, identity map, request
builder, tally, fair share, admission queue), so the CLI, the benchmark and the tests build a run the
same way. ``--compare`` is two variants over the same :class:`~.source.Trace`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cached_property

from hpcpolicy.engine import PolicySnapshot, compile_policy
from hpcpolicy.engine.fairshare import Row, build, rank
from hpcpolicy.engine.fairusage import Association, fair_tree
from hpcpolicy.policy import LoadedPolicy
from hpcpolicy.policy.schema.fairshare import FairShare
from hpcpolicy.service.context import QueueSettings

from .clock import TraceClock
from .fairshare import CALC_PERIOD, FairSharePriorities
from .governor import Governor, LedgerGovernor
from .held import AdmissionQueue
from .identity import IdentityMap
from .replay import PolicyRun, Progress, replay
from .requests import RequestBuilder
from .scheduler import make_model
from .source import Trace, TraceJob
from .tally import GovernanceTally
from .workload import Schedule

#: The service's default lien TTL (``Context.lien_ttl``): a reservation not started within it expires.
DEFAULT_LIEN_TTL = timedelta(hours=24)


@dataclass(frozen=True)
class Variant:
    """What differs between compared runs: the scheduler model, the policy (None: scheduling alone), and
    whether jobs refused by a concurrency cap are held for later (``queue``; needs a policy)."""

    scheduler: str
    policy: LoadedPolicy | None = None
    source: str | None = None  # the policy file, for the report
    queue: bool = False

    @cached_property
    def snapshot(self) -> PolicySnapshot | None:
        """The compiled policy, built once however many times the variant is replayed."""
        return compile_policy(self.policy.policy, self.policy.version) if self.policy is not None else None

    @property
    def label(self) -> str:
        policy = self.policy.version if self.policy is not None else "no policy"
        queue = " + queue" if self.queue and self.policy is not None else ""
        return f"{self.scheduler}{queue} · {policy}"


@dataclass(frozen=True)
class Options:
    """What every compared run shares."""

    capacity: int
    clock: TraceClock
    identities: IdentityMap = field(default_factory=IdentityMap)
    lien_ttl: timedelta = DEFAULT_LIEN_TTL
    kill_at_limit: bool = True
    priority_period: float = CALC_PERIOD  # seconds between fair-share recomputations
    queue: QueueSettings = field(default_factory=QueueSettings)  # queued admission: TTL, held jobs per user


@dataclass(slots=True)
class RunResult:
    variant: Variant
    schedule: Schedule
    tally: GovernanceTally | None
    capacity: int
    kill_at_limit: bool
    fairshare: list[Row] | None = None  # the fair-share tree at the end, when the run ranked by it
    fairshare_at: float | None = None  # its trace time


def policy_run(
    trace: Trace,
    snap: PolicySnapshot,
    options: Options,
    governor: Governor | None = None,
    fairshare: FairSharePriorities | None = None,
    queue: bool = False,
) -> PolicyRun:
    """The policy side of a run: by default the in-memory ledger with the shared balance rules."""
    if governor is None:
        governor = LedgerGovernor(snap, options.clock, options.lien_ttl)
    first = trace.jobs[0].sim.submit if trace.jobs else 0.0
    last = trace.jobs[-1].sim.submit if trace.jobs else 0.0
    tally = GovernanceTally(snap, options.clock, first, last)
    held = AdmissionQueue(options.queue) if queue else None
    return PolicyRun(governor, RequestBuilder(snap, options.identities), tally, fairshare, held)


def fair_priorities(snap: PolicySnapshot | None, options: Options) -> FairSharePriorities:
    """Fair-share priorities over the policy's accounts, or without a policy over trace users with equal
    shares and the policy defaults (:mod:`.unpoliced`)."""
    if snap is None:
        return FairSharePriorities(FairShare(), _flat_tree, options.priority_period)
    return FairSharePriorities(snap.policy.fairshare, lambda usage: fair_tree(snap, usage), options.priority_period)


def _flat_tree(usage: Mapping[Association, float]) -> list[Row]:
    return rank(build((), (), {}, usage))


def run_variant(
    trace: Trace,
    variant: Variant,
    options: Options,
    *,
    progress: Progress | None = None,
    governor: Governor | None = None,
) -> RunResult:
    """Replay ``trace`` once. ``governor`` replaces the memory-ledger governor (tests use the service layer)."""
    snap = variant.snapshot
    queue = variant.queue and snap is not None
    fair = fair_priorities(snap, options) if variant.scheduler == "fairshare" or queue else None
    ordering = fair if variant.scheduler == "fairshare" else None
    model = make_model(variant.scheduler, options.capacity, kill_at_limit=options.kill_at_limit, ordering=ordering)
    policy = policy_run(trace, snap, options, governor, fair, queue) if snap is not None else None
    unpoliced = (fair, _trace_user(options.identities)) if fair is not None and snap is None else None
    schedule = replay(trace.jobs, model, policy, fairshare=unpoliced, progress=progress)
    result = RunResult(variant, schedule, policy.tally if policy else None, options.capacity, options.kill_at_limit)
    if fair is not None:
        result.fairshare_at = max((p.end for p in schedule.placements), default=0.0)
        result.fairshare = fair.rank(result.fairshare_at)
    return result


def _trace_user(identities: IdentityMap) -> Callable[[TraceJob], Association]:
    """Without a policy a job's association is its user as the mapping names them, without a project."""

    def who(job: TraceJob) -> Association:
        return None, identities.resolve(job.user, job.group, job.partition, job.queue).user

    return who
