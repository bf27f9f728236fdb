"""One simulation variant end to end: a scheduler model, with or without a policy, over a loaded trace.

This is the one place that wires a replay together (model, memory ledger, identity map, request
builder, tally), so the CLI, the benchmark and the tests build a run the same way. ``--compare`` is
two variants over the same :class:`~.source.Trace`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from functools import cached_property

from hpcpolicy.engine import PolicySnapshot, compile_policy
from hpcpolicy.policy import LoadedPolicy

from .clock import TraceClock
from .governor import Governor, LedgerGovernor
from .identity import IdentityMap
from .replay import PolicyRun, Progress, replay
from .requests import RequestBuilder
from .scheduler import make_model
from .source import Trace
from .tally import GovernanceTally
from .workload import Schedule

#: The service's default lien TTL (``Context.lien_ttl``): a reservation not started within it expires.
DEFAULT_LIEN_TTL = timedelta(hours=24)


@dataclass(frozen=True)
class Variant:
    """What differs between compared runs: the scheduler model and the policy (None: scheduling alone)."""

    scheduler: str
    policy: LoadedPolicy | None = None
    source: str | None = None  # the policy file, for the report

    @cached_property
    def snapshot(self) -> PolicySnapshot | None:
        """The compiled policy, built once however many times the variant is replayed."""
        return compile_policy(self.policy.policy, self.policy.version) if self.policy is not None else None

    @property
    def label(self) -> str:
        policy = self.policy.version if self.policy is not None else "no policy"
        return f"{self.scheduler} · {policy}"


@dataclass(frozen=True)
class Options:
    """What every compared run shares."""

    capacity: int
    clock: TraceClock
    identities: IdentityMap = field(default_factory=IdentityMap)
    lien_ttl: timedelta = DEFAULT_LIEN_TTL
    kill_at_limit: bool = True


@dataclass(slots=True)
class RunResult:
    variant: Variant
    schedule: Schedule
    tally: GovernanceTally | None
    capacity: int
    kill_at_limit: bool


def policy_run(trace: Trace, snap: PolicySnapshot, options: Options, governor: Governor | None = None) -> PolicyRun:
    """The policy side of a run: by default the in-memory ledger with the shared balance rules."""
    if governor is None:
        governor = LedgerGovernor(snap, options.clock, options.lien_ttl)
    first = trace.jobs[0].sim.submit if trace.jobs else 0.0
    last = trace.jobs[-1].sim.submit if trace.jobs else 0.0
    tally = GovernanceTally(snap, options.clock, first, last)
    return PolicyRun(governor, RequestBuilder(snap, options.identities), tally)


def run_variant(
    trace: Trace,
    variant: Variant,
    options: Options,
    *,
    progress: Progress | None = None,
    governor: Governor | None = None,
) -> RunResult:
    """Replay ``trace`` once. ``governor`` replaces the memory-ledger governor (tests use the service layer)."""
    model = make_model(variant.scheduler, options.capacity, kill_at_limit=options.kill_at_limit)
    snap = variant.snapshot
    policy = policy_run(trace, snap, options, governor) if snap is not None else None
    schedule = replay(trace.jobs, model, policy, progress=progress)
    return RunResult(variant, schedule, policy.tally if policy else None, options.capacity, options.kill_at_limit)
