"""sacct output → observed jobs: a dump recorded on the test cluster, and the shared FASRC samples.

``data/sacct_testcluster.out`` is ``sacct --allusers --parsable2 --format=<FORMAT>`` from the single-node
test cluster (Slurm 22.05, slurmdbd) after: a completed job, a GPU job that failed after a second, a job
that bypassed the hook (no token), a 3-task array, a job cancelled while running, one still running and
one pending.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from hpcpolicy.adapters.slurm.admission import submit_key
from hpcpolicy.adapters.slurm.sacct import FORMAT, STATES, SacctReader, sacct_command
from hpcpolicy.ledger import JobUsage
from hpcpolicy.service.reconcile import ObservedJob, Phase

DATA = Path(__file__).parent / "data"
REPO_TRACES = Path(__file__).resolve().parents[1] / "data" / "traces"
SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "traces" / "sacct"
#: The --format of the FASRC dumps (their README): no header line, no AllocTRES, no Account, no Elapsed.
FASRC = [
    "User", "JobID", "JobName", "State", "Partition", "NCPUS", "NNodes", "CPUTime", "TotalCPU", "UserCPU",
    "SystemCPU", "ReqMem", "MaxRSS", "Submit", "Start", "End", "NodeList",
]  # fmt: skip


def recorded() -> dict[str, ObservedJob]:
    reader = SacctReader()
    with (DATA / "sacct_testcluster.out").open() as lines:
        jobs = {job.job_id: job for job in reader.jobs(lines)}
    assert reader.problems == []
    return jobs


def test_steps_are_skipped_and_array_tasks_keep_their_own_ids() -> None:
    assert list(recorded()) == ["1", "2", "3", "5", "6", "7", "8", "9", "4"]


def test_a_completed_hooked_job() -> None:
    job = recorded()["1"]
    assert job.phase == Phase.COMPLETED
    assert (job.user, job.account, job.partition, job.cluster) == ("daemon", "chem", "cpu", "testcluster")
    assert job.usage == JobUsage(2 / 3600, cpus=2, gpus=0, memory_gb=200 / 1024)
    assert job.started_at == datetime(2026, 11, 23, 14, 8, 33, tzinfo=UTC)
    assert job.ended_at == datetime(2026, 11, 23, 14, 8, 35, tzinfo=UTC)
    assert job.lien_key == submit_key("00000000-0000-0000-0000-00000000196d")


def test_states_gpus_and_missing_tokens() -> None:
    jobs = recorded()
    failed, bypassed, cancelled = jobs["2"], jobs["3"], jobs["5"]
    assert (failed.phase, failed.usage.gpus, failed.gpu_type) == (Phase.FAILED, 2, "a100")
    assert bypassed.lien_key is None and bypassed.phase == Phase.COMPLETED
    assert cancelled.phase == Phase.CANCELLED and cancelled.usage.elapsed_hours == 3 / 3600
    assert len({jobs[t].lien_key for t in ("8", "9", "4")}) == 1


def test_running_and_pending_jobs_have_no_end_and_no_usage_yet() -> None:
    running, pending = recorded()["6"], recorded()["7"]
    assert running.phase == Phase.RUNNING and running.ended_at is None
    assert running.started_at is not None and running.usage.elapsed_hours == 0
    assert pending.phase == Phase.PENDING and pending.started_at is None
    assert pending.usage == JobUsage(0.0)  # no allocation yet: nothing known


def test_fasrc_dump_without_header_reads_with_columns_and_a_cluster_name() -> None:
    reader = SacctReader(cluster="odyssey", columns=FASRC)
    with (REPO_TRACES / "fasrc_parallel_noheader.out").open() as lines:
        (job,) = list(reader.jobs(lines))
    assert reader.problems == []
    assert (job.job_id, job.user, job.account, job.partition, job.phase) == (
        "77454", "jab", None, "general", Phase.COMPLETED,
    )  # fmt: skip
    # NCPUS 3 on 2 nodes, 11:51:28 → 11:52:31, ReqMem 5150Mn = per node
    assert job.usage == JobUsage(63 / 3600, cpus=3, gpus=None, memory_gb=pytest.approx(2 * 5150 / 1024))


@pytest.mark.skipif(not SHARED.is_dir(), reason="shared traces (../shared/traces) not present")
def test_shared_fasrc_samples() -> None:
    reader = SacctReader(cluster="odyssey", columns=FASRC)
    jobs = []
    for name in ("fasrc_slyme_sacct_single_serial_COMPLETED_parsable.out",
                 "fasrc_slyme_sacct_single_parallel_COMPLETED_parsable.out"):  # fmt: skip
        with (SHARED / name).open() as lines:
            jobs += list(reader.jobs(lines))
    assert reader.problems == []
    assert [(j.job_id, j.usage.cpus, round(j.usage.elapsed_hours * 3600)) for j in jobs] == [
        ("77369", 1, 62),
        ("77454", 3, 63),
    ]


def test_without_a_cluster_name_or_with_bad_lines_the_reader_says_so_and_goes_on() -> None:
    reader = SacctReader(columns=FASRC)
    lines = [
        "jab|1|x|COMPLETED|general|1|1|||||1Gn||2014-06-26T10:00:00|2014-06-26T10:00:00|2014-06-26T10:01:00|n1",
        "only|three|fields",
        "JobID|User|State|Cluster|ElapsedRaw",
        "2|bob|WEIRD_STATE|c|5",
        "3|bob|COMPLETED|c|5",
    ]
    jobs = list(reader.jobs(lines))
    assert [j.job_id for j in jobs] == ["3"]  # the header line switched the columns
    assert reader.problems == [
        "line 1: job 1: no cluster (pass --cluster)",
        "line 2: expected 17 fields, got 3 fields",
        "line 4: job 2: unknown state 'WEIRD_STATE'",
    ]


def test_the_live_command_asks_for_every_user_and_allocations_only_in_utc() -> None:
    since = datetime(2026, 11, 1, 13, 0, tzinfo=UTC)
    cmd = sacct_command(since, datetime(2026, 11, 1, 14, 0, tzinfo=UTC))
    assert cmd[:4] == ["sacct", "--allusers", "--allocations", "--parsable2"]
    assert cmd[4] == "--format=" + ",".join(FORMAT)
    assert cmd[5:7] == ["--state", STATES] and set(STATES.split(",")) >= {"PD", "R", "CD", "F", "CA", "TO"}
    assert cmd[7:] == ["--starttime", "2026-11-01T13:00:00", "--endtime", "2026-11-01T14:00:00"]
