"""``squeue --all --json`` → the jobs the controller still has, and the hooked ones among them.

``data/squeue_testcluster.json`` is real output of the test cluster (Slurm 22.05), trimmed to the keys
read plus ``name`` and ``comment``: job 1 is held and named ``x AdminComment=hpcpolicy:evil`` (what broke
parsing ``scontrol -o``), job 2 runs with a token, job 3 runs without one (it bypassed the hook), job 4
has completed and is still in the controller's memory.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from hpcpolicy.adapters.slurm.admission import submit_key
from hpcpolicy.adapters.slurm.live import parse_jobs
from hpcpolicy.adapters.slurm.sacct import SlurmUnavailable
from hpcpolicy.service.reconcile import Phase

RECORDED = (Path(__file__).parent / "data" / "squeue_testcluster.json").read_text()


def test_alive_jobs_and_their_tokens() -> None:
    live = parse_jobs(RECORDED, "testcluster")
    assert live.job_ids == {"1", "2", "3"}  # job 4 completed
    assert live.tokens == {"token-1", "token-2"}  # never "evil": the job name is not the admin comment


def test_hooked_jobs_are_observed_pending_or_running() -> None:
    pending, running = parse_jobs(RECORDED, "testcluster").hooked
    assert (pending.job_id, pending.phase, pending.started_at) == ("1", Phase.PENDING, None)
    assert (running.job_id, running.phase, running.user, running.account) == ("2", Phase.RUNNING, "daemon", "chem")
    assert running.started_at == datetime.fromtimestamp(1795443278, UTC)
    assert running.lien_key == submit_key("token-2") and running.usage.elapsed_hours == 0


def test_later_releases_list_job_state_flags() -> None:
    text = '{"jobs": [{"job_id": 9, "job_state": ["RUNNING", "COMPLETING"], "admin_comment": "hpcpolicy:t9"}]}'
    (job,) = parse_jobs(text).hooked
    assert job.phase == Phase.RUNNING


@pytest.mark.parametrize("text", ["", "not json", '{"no_jobs": []}', "[1, 2]"])
def test_unreadable_output_is_a_slurm_failure(text: str) -> None:
    with pytest.raises(SlurmUnavailable):
        parse_jobs(text)
