"""``squeue --all --json`` → the jobs the controller still has, and the hooked ones among them.

``data/squeue_testcluster.json`` is real output of the test cluster (Slurm 22.05), trimmed to the keys
read plus ``name`` and ``comment``: job 1 is held and named ``x AdminComment=hpcpolicy:evil`` (what broke
parsing ``scontrol -o``), job 2 runs with a token, job 3 runs without one (it bypassed the hook), job 4
has completed and is still in the controller's memory.
"""

from __future__ import annotations

import json
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


def test_held_jobs_are_read_in_2205s_format_and_later_releases() -> None:
    mark = "hpcpolicy:t1 hpcpolicy-held"
    jobs = [
        {"job_id": 1, "job_state": "PENDING", "state_reason": "JobHeldUser", "priority": 0, "admin_comment": mark,
         "comment": "hpcpolicy: waiting\tfor a slot"},
        {"job_id": 2, "job_state": ["PENDING"], "state_reason": "JobHeldAdmin", "admin_comment": "hpcpolicy:t2",
         "priority": {"set": True, "infinite": False, "number": 0},
         "comment": "hpcpolicy: waiting for a concurrency slot (concurrency.max_jobs), position 1"},  # mid-release
        {"job_id": 5, "job_state": "PENDING", "state_reason": "JobHeldUser", "priority": 0,
         "admin_comment": "hpcpolicy:t5", "comment": "mine"},  # released, then held by its user: not the queue's
        {"job_id": 3, "job_state": "PENDING", "state_reason": "Priority", "priority": 4294901759,
         "admin_comment": "hpcpolicy:t3"},  # waiting for nodes: not held
        {"job_id": 4, "job_state": "RUNNING", "priority": 0, "admin_comment": "hpcpolicy:t4 hpcpolicy-held"},
    ]  # fmt: skip
    first, second = parse_jobs(json.dumps({"jobs": jobs})).held
    assert (first.job_id, first.token, first.held, first.admin_held) == ("1", "t1", True, False)
    assert first.comment == "hpcpolicy: waiting for a slot" and first.admin_comment == mark
    assert (second.job_id, second.token, second.held, second.admin_held) == ("2", "t2", True, True)
