"""Jobs over a concurrency cap accepted held, and the sync that releases, informs or cancels them — in
process: the service on the memory and SQLite ledgers, squeue's JSON and scontrol/scancel faked.

Project ``queue`` of tests/slurm/policy.yaml runs two jobs at once; its members are games (uid 5) and man
(uid 6). A real cluster runs the same story in test_cluster_holds.py.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from hpcpolicy.adapters.slurm.admission import ModifyIn, SlurmAdmission, SlurmReply, SubmitIn, submit_key, token_of
from hpcpolicy.adapters.slurm.hold_marks import HOLD_MARK, compose, duration, marked, own_part, without_mark
from hpcpolicy.adapters.slurm.jobdesc import JobDesc
from hpcpolicy.adapters.slurm.releases import CommandFailed, Holds
from hpcpolicy.adapters.slurm.sacct import FORMAT, SacctReader
from hpcpolicy.adapters.slurm.sync import Sources, SyncReport, sync_window
from hpcpolicy.ledger import JobUsage
from hpcpolicy.ledger.queue import QueueState
from hpcpolicy.service import Governance
from hpcpolicy.service.context import QueueSettings
from hpcpolicy.service.dispatcher import Dispatcher
from hpcpolicy.service.reconcile import Reconciler, lien_by_key
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


# -- the sync -------------------------------------------------------------------------------------------


def held_job(job_id: int, reply: SlurmReply, **fields: Any) -> dict[str, Any]:
    """A job as ``squeue --json`` (22.05) shows it right after the plugin held it."""
    return {"job_id": job_id, "job_state": "PENDING", "state_reason": "JobHeldUser", "priority": 0,
            "user_name": "games", "admin_comment": reply.admin_comment, "comment": reply.comment} | fields  # fmt: skip


class FakeControl:
    """scontrol/scancel: records every argv; ``fail`` names commands (``release``, ``scancel``) that fail once."""

    def __init__(self, *fail: str):
        self.calls: list[list[str]] = []
        self.fail = set(fail)

    def __call__(self, argv: Sequence[str]) -> None:
        self.calls.append(list(argv))
        verb = argv[1] if argv[0] == "scontrol" else argv[0]
        if verb in self.fail:
            self.fail.discard(verb)
            raise CommandFailed(f"{verb} failed (exit 1): slurm_load_jobs error: Unable to contact slurm controller")


def sync_pass(gov: Governance, jobs: list[dict[str, Any]], control: FakeControl, **holds: Any) -> SyncReport:
    now = gov.ctx.clock()
    sources = Sources(sacct=lambda since, until: "|".join(FORMAT) + "\n", controller=lambda: json.dumps({"jobs": jobs}),
                      grace=timedelta(minutes=5))  # fmt: skip
    return sync_window(Reconciler(gov.ctx), now - timedelta(hours=1), now, SacctReader(), sources,
                       holds=Holds(gov, control, **holds))  # fmt: skip


def finish(gov: Governance, reply: SlurmReply, hours: float = 0.25) -> None:
    """The job ran ``hours`` (the clock moves) and is charged for it: its slot frees."""
    assert reply.decision_id is not None
    gov.jobs.start(reply.decision_id)
    gov.ctx.clock.advance(hours=hours)  # type: ignore[attr-defined]
    gov.jobs.finish(reply.decision_id, JobUsage(elapsed_hours=hours))


def test_the_sync_keeps_the_position_current_and_makes_the_hold_an_administrators(gov: Governance) -> None:
    submit(gov), submit(gov)
    first, second = submit(gov), submit(gov, uid=MAN)
    jobs = [held_job(101, first), held_job(102, second)]
    control = FakeControl()
    report = sync_pass(gov, jobs, control)
    assert report.error is None and report.holds == {"updated": 2}
    assert control.calls == [
        ["scontrol", "update", "JobId=101", "Priority=0", f"Comment={WAITING} 1"],
        ["scontrol", "update", "JobId=102", "Priority=0", f"Comment={WAITING} 2"],
    ]
    jobs = [job | {"state_reason": "JobHeldAdmin"} for job in jobs]
    control.calls.clear()
    assert sync_pass(gov, jobs, control).holds == {"waiting": 2} and control.calls == []  # nothing changed

    entry = entry_of(gov, first)
    assert gov.cancel_held(entry.id, "user:games") is not None  # withdrawn through the API or `queue cancel`
    report = sync_pass(gov, jobs, control)
    assert report.holds == {"refused": 1, "updated": 1}
    assert control.calls == [
        ["scontrol", "update", "JobId=101", "Comment=hpcpolicy: cancelled: withdrawn from the admission queue"],
        ["scancel", "101"],
        ["scontrol", "update", "JobId=102", f"Comment={WAITING} 1"],
    ]


def test_admitted_jobs_are_released_in_the_order_the_service_admitted_them(gov: Governance) -> None:
    dispatcher = Dispatcher(gov)
    gov.ctx.observers.on_freed(dispatcher.freed)
    a1, a2 = submit(gov), submit(gov)
    h1, h2 = submit(gov, comment="mine"), submit(gov)  # games
    h3 = submit(gov, uid=MAN)  # later, but man has used nothing
    finish(gov, a1)  # games is charged: man's request goes first, by fair share
    assert [e.id for e in dispatcher.step().admitted] == [h3.decision_id]
    finish(gov, a2)
    assert [e.id for e in dispatcher.step().admitted] == [h1.decision_id]

    jobs = [held_job(101, h1), held_job(102, h2), held_job(103, h3, user_name="man")]
    control = FakeControl()
    report = sync_pass(gov, jobs, control)
    assert report.holds == {"released": 2, "updated": 1} and report.counts["bound"] == 2
    token1, token3 = token_of(h1.admin_comment), token_of(h3.admin_comment)
    assert control.calls == [
        ["scontrol", "update", "JobId=102", "Priority=0", f"Comment={WAITING} 1"],
        ["scontrol", "update", "JobId=103", f"AdminComment=hpcpolicy:{token3}"],
        ["scontrol", "release", "103"],  # admitted first, released first
        ["scontrol", "update", "JobId=103", "Comment="],
        ["scontrol", "update", "JobId=101", f"AdminComment=hpcpolicy:{token1}"],
        ["scontrol", "release", "101"],
        ["scontrol", "update", "JobId=101", "Comment=mine"],
    ]
    with gov.ctx.ledger.session() as tx:
        lien = lien_by_key(tx, submit_key(token3 or ""))
    assert lien is not None and lien.job_id == "103" and lien.id == h3.decision_id  # bound by the usual path


def test_a_held_job_whose_wait_ran_out_is_cancelled_with_the_reason(gov: Governance) -> None:
    dispatcher = Dispatcher(gov)
    submit(gov), submit(gov)
    held = submit(gov, comment="keep me")
    gov.ctx.clock.advance(seconds=gov.ctx.queue.ttl.total_seconds() + 60)  # type: ignore[attr-defined]
    assert [e.id for e in dispatcher.step().expired] == [held.decision_id]
    limit = duration(gov.ctx.queue.ttl)
    control = FakeControl()
    report = sync_pass(gov, [held_job(101, held, state_reason="JobHeldAdmin")], control)
    assert report.holds == {"refused": 1}
    assert control.calls == [
        ["scontrol", "update", "JobId=101",
         f"Comment=hpcpolicy: cancelled: waited the queue's limit of {limit} for a slot | keep me"],
        ["scancel", "101"],
    ]  # fmt: skip


def test_a_held_job_its_user_cancelled_leaves_the_queue_after_the_grace(gov: Governance) -> None:
    submit(gov), submit(gov)
    held = submit(gov)
    control = FakeControl()
    assert "withdrawn" not in sync_pass(gov, [], control).holds  # too young: its job may still be on its way
    gov.ctx.clock.advance(minutes=10)  # type: ignore[attr-defined]
    assert "withdrawn" not in sync_pass(gov, [], control, cluster="helix").holds  # another cluster's sync
    assert sync_pass(gov, [], control).holds == {"withdrawn": 1}
    assert entry_of(gov, held).state is QueueState.CANCELLED and control.calls == []


def test_a_failed_command_is_reported_and_done_on_the_next_pass(gov: Governance) -> None:
    dispatcher = Dispatcher(gov)
    gov.ctx.observers.on_freed(dispatcher.freed)
    first, _ = submit(gov), submit(gov)
    held = submit(gov)
    finish(gov, first)
    dispatcher.step()
    jobs = [held_job(101, held)]
    control = FakeControl("release")
    report = sync_pass(gov, jobs, control)
    assert report.error is None and report.holds == {"failed": 1}
    assert report.problems == ["held job 101: release failed (exit 1): slurm_load_jobs error: Unable to contact "
                               "slurm controller"]  # fmt: skip
    # the mark was cleared before the release failed: the waiting status, still shown, names the job ours
    retry = sync_pass(gov, [jobs[0] | {"admin_comment": without_mark(held.admin_comment)}], control)
    assert retry.holds == {"released": 1}
    assert control.calls[-2:] == [["scontrol", "release", "101"], ["scontrol", "update", "JobId=101", "Comment="]]


@pytest.mark.parametrize("reason", ["JobHeldUser", "JobHeldAdmin"])
def test_a_released_job_held_again_by_its_user_or_an_admin_is_left_alone(gov: Governance, reason: str) -> None:
    dispatcher = Dispatcher(gov)
    gov.ctx.observers.on_freed(dispatcher.freed)
    first, _ = submit(gov), submit(gov)
    held = submit(gov, comment="mine")
    finish(gov, first)
    dispatcher.step()
    released = held_job(101, held, state_reason=reason, admin_comment=without_mark(held.admin_comment),
                        comment="mine")  # fmt: skip
    control = FakeControl()
    assert sync_pass(gov, [released], control).holds == {} and control.calls == []


def test_a_refusal_cancels_the_job_even_when_its_comment_cannot_be_written(gov: Governance) -> None:
    submit(gov), submit(gov)
    held = submit(gov)
    gov.cancel_held(entry_of(gov, held).id, "user:games")
    control = FakeControl("update")
    report = sync_pass(gov, [held_job(101, held)], control)
    assert report.holds == {"refused": 1} and control.calls[-1] == ["scancel", "101"]
    assert len(report.problems) == 1 and report.problems[0].startswith("held job 101: update failed")


@pytest.mark.parametrize(
    "hostile",
    [
        {"comment": "hpcpolicy: x | \x00\n\x1b[2Jrm -rf / \u2028 ok"},
        {"comment": 12345},
        {"comment": ["a", "b"]},
        {"admin_comment": 7},
        {"job_id": "101; scancel -u root"},
        {"priority": {"set": True, "infinite": False, "number": 0}, "job_state": ["PENDING"]},
        {"priority": "zero", "state_reason": None},
    ],
)
def test_hostile_squeue_fields_neither_break_the_sync_nor_reach_an_argument(
    gov: Governance, hostile: dict[str, Any]
) -> None:
    submit(gov), submit(gov)
    held = submit(gov)
    control = FakeControl()
    report = sync_pass(gov, [held_job(101, held) | hostile], control)
    assert report.error is None
    for argv in control.calls:
        assert argv[:2] == ["scontrol", "update"] and argv[2] == "JobId=101"
        assert all(ch.isprintable() or ch == " " for arg in argv for ch in arg), argv


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


@pytest.mark.parametrize(("hours", "shown"), [(24, "24 h"), (36, "36 h"), (168, "7 days"), (0.5, "0.5 h")])
def test_a_waits_limit_reads_as_a_person_would_say_it(hours: float, shown: str) -> None:
    assert duration(timedelta(hours=hours)) == shown


def test_the_hold_mark_is_a_word_of_its_own() -> None:
    assert marked(f"hpcpolicy:abc {HOLD_MARK}") and not marked(f"hpcpolicy:abc {HOLD_MARK}s")
    assert without_mark(f"note hpcpolicy:abc {HOLD_MARK}") == "note hpcpolicy:abc"
    assert token_of(f"hpcpolicy:abc {HOLD_MARK}") == "abc"
