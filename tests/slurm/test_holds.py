"""Jobs over a concurrency cap accepted held — in process: the service on the memory and SQLite ledgers.

Project ``queue`` of tests/slurm/policy.yaml runs two jobs at once; its members are games (uid 5) and man
(uid 6).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from hpcpolicy.adapters.slurm.admission import ModifyIn, SlurmAdmission, SlurmReply, SubmitIn, submit_key, token_of
from hpcpolicy.adapters.slurm.held import HOLD_MARK, compose, marked, own_part, without_mark
from hpcpolicy.adapters.slurm.jobdesc import JobDesc
from hpcpolicy.ledger.queue import QueueState
from hpcpolicy.service import Governance
from hpcpolicy.service.context import QueueSettings
from hpcpolicy.service.reconcile import lien_by_key
from tests.slurm.conftest import fake_users

GAMES, MAN = 5, 6
WAITING = "hpcpolicy: waiting for a concurrency slot (concurrency.max_jobs), position"


def submit(gov: Governance, uid: int = GAMES, **fields: Any) -> SlurmReply:
    desc = JobDesc(user_id=uid, num_tasks=1, time_limit=30, **fields)
    return SlurmAdmission(gov, fake_users).submit(SubmitIn(job=desc, cluster="testcluster"), "slurmctld")


def entry_of(gov: Governance, reply: SlurmReply) -> Any:
    with gov.ctx.ledger.session() as tx:
        return tx.find_queued(submit_key(token_of(reply.admin_comment) or ""))


# -- the submit hook ------------------------------------------------------------------------------------


def test_a_job_over_the_cap_is_accepted_held_with_its_place_and_the_reason(gov: Governance) -> None:
    running = [submit(gov), submit(gov)]
    assert all(r.allow and not r.hold and not marked(r.admin_comment) for r in running)
    held = submit(gov, comment="calibration run 7")
    assert (held.allow, held.hold, held.partition, held.account) == (True, True, "cpu", "queue")
    assert held.comment == f"{WAITING} 1 | calibration run 7"
    assert held.admin_comment is not None and held.admin_comment.endswith(f" {HOLD_MARK}")
    assert held.messages[0].startswith("hpcpolicy: job held: it waits for a concurrency slot, position 1;")
    assert held.messages[1].startswith("  concurrency.max_jobs:") and "[project:queue; limit 2" in held.messages[1]
    entry = entry_of(gov, held)
    assert entry is not None and entry.state is QueueState.QUEUED and entry.id == held.decision_id
    with gov.ctx.ledger.session() as tx:
        assert lien_by_key(tx, submit_key(token_of(held.admin_comment) or "")) is None  # no slot taken
    other = submit(gov, uid=MAN)  # the same limit: it waits behind the first (equal shares, no usage yet)
    assert other.hold and other.comment == f"{WAITING} 2"


def test_with_holding_off_a_job_over_the_cap_is_rejected_as_before(gov: Governance) -> None:
    gov = Governance(replace(gov.ctx, queue=QueueSettings(slurm_hold=False)))
    submit(gov), submit(gov)
    refused = submit(gov)
    assert (refused.allow, refused.hold, refused.error) == (False, False, "ESLURM_ACCOUNTING_POLICY")
    assert "concurrency.max_jobs" in refused.messages[1]


def test_a_held_job_cannot_be_resized_into_a_lien_beside_its_place(gov: Governance) -> None:
    submit(gov), submit(gov)
    held = submit(gov)
    record = JobDesc(job_id=77, user_id=GAMES, partition="cpu", account="queue", time_limit=30, min_cpus=1,
                     min_nodes=1, admin_comment=held.admin_comment, tres_fmt_req_str="cpu=1,node=1")  # fmt: skip
    body = ModifyIn(job=record, changes=JobDesc(time_limit=60), cluster="testcluster")
    refused = SlurmAdmission(gov, fake_users).modify(body, "slurmctld")
    assert not refused.allow and "waits in the admission queue" in refused.messages[0]
    shorter = ModifyIn(job=record, changes=JobDesc(time_limit=10), cluster="testcluster")
    assert SlurmAdmission(gov, fake_users).modify(shorter, "slurmctld").allow  # asks for less: no decision


def test_the_http_answer_carries_the_hold(gov: Governance) -> None:
    from tests.slurm.test_api import client_for

    submit(gov), submit(gov)
    with client_for(gov) as client:
        reply = client.post("/v1/adapters/slurm/job_submit",
                            json={"job": {"user_id": GAMES, "num_tasks": 1, "time_limit": 30},
                                  "cluster": "testcluster"}).json()  # fmt: skip
    assert (reply["allow"], reply["hold"], reply["comment"]) == (True, True, f"{WAITING} 1")


# -- the comment's two parts ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("comment", "own"),
    [
        (f"{WAITING} 3 | run 7 | with bars", "run 7 | with bars"),
        (f"{WAITING} 3", ""),
        ("edited by the user", "edited by the user"),
        ("line\nbreak", "line break"),
        (None, ""),
    ],
)
def test_the_users_own_comment_is_told_apart_from_the_status(comment: str | None, own: str) -> None:
    assert own_part(comment) == own
    assert own_part(compose(f"{WAITING} 1", own)) == own


def test_the_hold_mark_is_a_word_of_its_own() -> None:
    assert marked(f"hpcpolicy:abc {HOLD_MARK}") and not marked(f"hpcpolicy:abc {HOLD_MARK}s")
    assert without_mark(f"note hpcpolicy:abc {HOLD_MARK}") == "note hpcpolicy:abc"
    assert token_of(f"hpcpolicy:abc {HOLD_MARK}") == "abc"
