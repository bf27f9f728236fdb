"""Invariants of a governed replay on random small traces and budgets.

* every admitted job runs, no denied one does, and each fitting job gets exactly one decision;
* the admitted jobs' schedule is valid (capacity, no start before submit, runtimes; FIFO keeps order);
* with requests known and jobs stopped at their limit, a job never uses more than its lien reserved,
  so the charges dated in any month never exceed the monthly budget — as long as no lien expires
  while its job waits (an expired lien frees budget that the job still spends once it runs, which is
  the service's documented semantics, so the TTL here outlasts every wait).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from hpcpolicy.engine import compile_policy
from hpcpolicy.simulate.clock import TraceClock
from hpcpolicy.simulate.governor import LedgerGovernor
from hpcpolicy.simulate.run import Options, Variant, run_variant
from hpcpolicy.simulate.source import Trace

from .checks import assert_valid
from .helpers import HOUR, base, policy, trace_of


@st.composite
def traces(draw: st.DrawFn) -> tuple[Trace, int]:
    capacity = draw(st.integers(1, 8))
    count = draw(st.integers(0, 30))
    submits = sorted(draw(st.lists(st.integers(0, 70 * 24), min_size=count, max_size=count)))  # hours, 2+ months
    jobs = []
    for index, submit in enumerate(submits):
        requested = draw(st.integers(1, 72)) * HOUR
        runtime = draw(st.floats(0, 1.5)) * requested
        jobs.append((f"j{index}", submit * HOUR, runtime, draw(st.integers(1, capacity + 1)), requested))
    return trace_of(*jobs), capacity


@settings(max_examples=150, deadline=None)
@given(traces(), st.integers(1, 400), st.sampled_from(["fifo", "easy"]))
def test_governed_replay_invariants(workload: tuple[Trace, int], budget: int, scheduler: str) -> None:
    trace, capacity = workload
    loaded = policy(base().project_quota("g7", cpu_hours=budget, window="monthly"))
    options = Options(capacity, TraceClock(trace.epoch), lien_ttl=timedelta(days=1000))
    governor = LedgerGovernor(compile_policy(loaded.policy, loaded.version), options.clock, options.lien_ttl)
    result = run_variant(trace, Variant(scheduler, loaded), options, governor=governor)
    tally, schedule = result.tally, result.schedule
    assert tally is not None
    assert tally.allowed + tally.denied + len(schedule.skipped) == len(trace.jobs)
    assert len(schedule.placements) == tally.allowed
    placed = {p.id for p in schedule.placements}
    admitted = [job.sim for job in trace.jobs if job.sim.id in placed]
    assert_valid(schedule, admitted + [skipped.job for skipped in schedule.skipped])
    if scheduler == "fifo":
        assert [p.id for p in schedule.placements] == [job.id for job in admitted]
    monthly: dict[tuple[int, int], float] = defaultdict(float)
    for charge in governor.ledger.charges.values():
        monthly[(charge.at.year, charge.at.month)] += charge.amounts.cpu_hours
    assert all(used <= budget + 1e-6 for used in monthly.values())
    assert list(governor.ledger.open_liens()) == []  # every admitted job ended and was closed
