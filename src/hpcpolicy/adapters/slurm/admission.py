"""The Slurm submit and modify hooks, server side: raw ``job_desc`` in, what the plugin must do out.

``submit``: map the job, take the Unix user and their groups, decide with a lien (``reserve``)
recorded under the key ``slurm-submit:<token>`` (a fresh submit token), and answer with the partition to
write back (when the job named none, the engine's route), the account (when the job named none, the
project charged) and the admin comment carrying the token: Slurm keeps it with the job and reports it in
``scontrol`` and ``sacct``, which is how the lien later finds its job id. A job refused only by concurrency
caps is accepted *held* instead (``hold``: the plugin sets its priority to 0), waiting in the admission
queue under the same key; ``hpcpolicy slurm sync`` releases it once the service admits it (:mod:`.hold_marks`,
:mod:`.releases`). ``modify``: attach the job id to its lien, and decide again only when the change asks for
more (longer, larger, another partition or account); the replacement lien gets a new token. A held job
cannot ask for more: it has no lien to replace, and a new one would take a slot beside its place.
"""

from __future__ import annotations

import contextlib
import re
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from hpcpolicy.adapters.slurm.hold_marks import clean, compose, violation_codes, waiting_status, with_mark
from hpcpolicy.adapters.slurm.identity import Resolver, UnknownUser, system_user
from hpcpolicy.adapters.slurm.jobdesc import JobDesc, JobShape, modified, shape_of, shape_of_record
from hpcpolicy.adapters.slurm.verdict import ACCESS_DENIED, held_lines, rejection_lines, slurm_error
from hpcpolicy.engine import Request
from hpcpolicy.engine.limits import Ident
from hpcpolicy.ledger.base import LedgerUnavailable
from hpcpolicy.ledger.queue import QueuedRequest, QueueState
from hpcpolicy.service import Governance, Outcome
from hpcpolicy.service.errors import ServiceError
from hpcpolicy.service.holding import Hold
from hpcpolicy.service.reconcile import Reconciler

TOKEN_PREFIX = "hpcpolicy:"
#: Decision keys of the liens the submit hook takes (the sync releases only these when their job is gone).
SUBMIT_KEY_PREFIX = "slurm-submit:"
_TOKEN = re.compile(r"hpcpolicy:([0-9A-Za-z-]{1,64})")


class SubmitIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    job: JobDesc
    cluster: Ident | None = None


class ModifyIn(BaseModel):
    """``job``: the job record as it is; ``changes``: the job_desc of the update (unset fields unchanged)."""

    model_config = ConfigDict(extra="forbid")

    job: JobDesc
    changes: JobDesc
    cluster: Ident | None = None


class SlurmReply(BaseModel):
    """What the plugin applies. ``error`` names an ``ESLURM_*`` constant; ``messages`` go to the user.
    ``hold``: accept the job held (priority 0) with ``comment`` saying why; only with ``allow``."""

    allow: bool
    error: str | None = None
    messages: list[str] = []
    partition: str | None = None
    account: str | None = None
    admin_comment: str | None = None
    decision_id: str | None = None
    hold: bool = False
    comment: str | None = None


def token_of(admin_comment: str | None) -> str | None:
    match = _TOKEN.search(admin_comment or "")
    return match.group(1) if match else None


def submit_key(token: str) -> str:
    return SUBMIT_KEY_PREFIX + token


def with_token(admin_comment: str | None, token: str) -> str:
    """The admin comment with this submit token, replacing an older one and keeping any other text."""
    rest = _TOKEN.sub("", admin_comment or "").strip()
    return f"{rest} {TOKEN_PREFIX}{token}".strip()


class SlurmAdmission:
    def __init__(self, gov: Governance, resolve: Resolver = system_user):
        self.gov = gov
        self.resolve = resolve

    def submit(self, body: SubmitIn, caller: str) -> SlurmReply:
        desc = body.job
        try:
            shape = shape_of(desc)
            user, groups = self._identity(desc)
            request = shape.to_request(user, groups, body.cluster)
        except (UnknownUser, ValueError) as exc:  # pydantic's ValidationError is a ValueError
            return denied(f"hpcpolicy: job rejected: {reason(exc)}")
        token = self.gov.ctx.ids()
        hold = Hold() if self.gov.ctx.queue.slurm_hold else None
        try:
            request = self._first_admissible(request)
            outcome = self.gov.decide(request, caller, reserve=True, key=submit_key(token), hold=hold,
                                      new_key=True)  # fmt: skip
        except LedgerUnavailable as exc:  # re-raised (503: the plugin's own failure mode) unless the
            outcome = self.gov.decide_fail_open(request, exc)  # partition fails open; no lien then
        if outcome.held is not None:
            return self._held(desc, shape, token, outcome.held)
        if not outcome.allow:
            return refusal(outcome)
        return SlurmReply(
            allow=True,
            **written_back(shape, outcome.decision),
            admin_comment=with_token(desc.admin_comment, token) if outcome.lien_id else None,
            decision_id=outcome.decision_id,
        )

    def _held(self, desc: JobDesc, shape: JobShape, token: str, entry: QueuedRequest) -> SlurmReply:
        """Accept a job that only a concurrency cap refuses, held: it keeps its place in the queue (Slurm
        would otherwise make its user resubmit), and the comment tells them why it does not start."""
        try:
            position = self.gov.queue.standing(entry).position
        except LedgerUnavailable:  # the hold is stored: a missing position must not fail the job
            position = None
        status = waiting_status(violation_codes(entry.decision), position)
        return SlurmReply(
            allow=True,
            hold=True,
            messages=held_lines(entry.decision, entry.id, position),
            **written_back(shape, entry.decision),
            admin_comment=with_mark(with_token(desc.admin_comment, token)),
            comment=compose(status, clean(desc.comment)),
            decision_id=entry.id,
        )

    def _first_admissible(self, request: Request) -> Request:
        """For ``-p a,b`` (Slurm runs the job on whichever it can): the first partition the policy admits,
        checked without writing; the reservation is then taken there and the job restricted to it. When
        none admits it, the first one's reasons are shown."""
        names = (request.partition or "").split(",")
        if len(names) < 2:
            return request
        candidates = [request.model_copy(update={"partition": name.strip()}) for name in names if name.strip()]
        for candidate in candidates:
            if self.gov.check(candidate).allow:
                return candidate
        return candidates[0]

    def modify(self, body: ModifyIn, caller: str) -> SlurmReply:
        rec = body.job
        job_id = rec.number("job_id")
        token = token_of(rec.admin_comment)
        lien_key = submit_key(token) if token else None
        reconciler = Reconciler(self.gov.ctx)
        if job_id is not None and lien_key is not None:
            with contextlib.suppress(ServiceError):  # a stale or foreign token: decided below as if none
                reconciler.bind(lien_key, str(job_id))
        try:
            before = shape_of_record(rec)
            after = modified(before, body.changes)
        except ValueError as exc:
            return denied(f"hpcpolicy: update rejected: {reason(exc)}")
        if not after.raises(before):
            return SlurmReply(allow=True)
        if lien_key is not None and self._waiting(lien_key):
            return denied("hpcpolicy: update rejected: the job waits in the admission queue for a concurrency "
                          "slot; cancel it and submit it again with the new size")  # fmt: skip
        if job_id is None:
            return denied("hpcpolicy: update rejected: the job record has no job id")
        try:
            user, groups = self._identity(rec)
            request = after.to_request(user, groups, body.cluster)
        except (UnknownUser, ValueError) as exc:
            return denied(f"hpcpolicy: update rejected: {reason(exc)}")
        new_token = self.gov.ctx.ids()
        outcome = reconciler.resize(str(job_id), lien_key, request, caller, submit_key(new_token))
        if not outcome.allow:
            return refusal(outcome)
        return SlurmReply(
            allow=True,
            admin_comment=with_token(rec.admin_comment, new_token) if outcome.lien_id else None,
            decision_id=outcome.decision_id,
        )

    def _waiting(self, key: str) -> bool:
        """Whether the job under ``key`` is held in the queue: it has no lien to resize yet, and deciding it
        anew would take one beside its place in the queue."""
        with self.gov.ctx.ledger.session() as tx:
            entry = tx.find_queued(key)
        return entry is not None and entry.state is QueueState.QUEUED

    def _identity(self, desc: JobDesc) -> tuple[str, tuple[str, ...]]:
        """The submitter and their Unix groups that the policy names (the engine derives roles from them)."""
        user = self.resolve(desc.number("user_id"), desc.text("user_name"))
        return user.name, self.gov.ctx.policies.current.snapshot.members.named(user.groups)


def written_back(shape: JobShape, decision: dict[str, Any]) -> dict[str, Any]:
    """What to write into the job: the route's partition and the project charged, where the job named none."""
    route = decision.get("route") or {}
    return {
        "partition": route.get("partition") if route.get("partition") != shape.partition else None,
        "account": decision.get("project") if shape.account is None else None,
    }


def refusal(outcome: Outcome) -> SlurmReply:
    decision: dict[str, Any] = outcome.decision
    violations = decision.get("violations") or []
    return SlurmReply(
        allow=False,
        error=slurm_error(violations),
        messages=rejection_lines(decision, outcome.decision_id),
        decision_id=outcome.decision_id,
    )


def reason(exc: Exception) -> str:
    """One line for the user's terminal: a validation error's fields and messages, else the error itself."""
    if isinstance(exc, ValidationError):
        return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'job'}: {e['msg']}" for e in exc.errors())
    return str(exc)


def denied(message: str) -> SlurmReply:
    return SlurmReply(allow=False, error=ACCESS_DENIED, messages=[message])
