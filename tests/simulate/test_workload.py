"""From trace records to scheduler jobs: what cannot be replayed is reported, not guessed."""

from __future__ import annotations

from hpcpolicy.adapters.traces import JobRecord
from hpcpolicy.simulate import SimJob, to_sim_jobs


def test_to_sim_jobs() -> None:
    records = [
        JobRecord("ok", 0.0, runtime=10.0, procs_allocated=4, time_requested=60.0),
        JobRecord("requested-only", 1.0, runtime=10.0, procs_requested=2),
        JobRecord("never-ran", 2.0, runtime=None, procs_requested=64, status="cancelled"),
        JobRecord("no-procs", 3.0, runtime=5.0),
        JobRecord("zero-request", 4.0, runtime=5.0, procs_allocated=1, time_requested=0.0),
    ]
    dropped: list[tuple[JobRecord, str]] = []
    jobs = list(to_sim_jobs(records, dropped))
    assert jobs == [
        SimJob("ok", 0.0, 10.0, 4, 60.0),
        SimJob("requested-only", 1.0, 10.0, 2, None),
        SimJob("zero-request", 4.0, 5.0, 1, None),
    ]
    assert [(record.job_id, reason) for record, reason in dropped] == [
        ("never-ran", "runtime unknown (the job never ran)"),
        ("no-procs", "processor count unknown"),
    ]
    assert len(list(to_sim_jobs(records))) == 3  # dropped list is optional
