"""The Slurm submit and modify hooks, server side: raw ``job_desc`` in, what the plugin must do out.

``submit``: map the job, take the Unix user and their groups, decide with a lien (``reserve``)
recorded under the key ``slurm-submit:<token>`` (a fresh submit token), and answer with the partition to
write back (when the job named none, the engine's route), the account (when the job named none, the
project charged) and the admin comment carrying the token: Slurm keeps it with the job and reports it in
``scontrol`` and ``sacct``, which is how the lien later finds its job id. ``modify``: attach the job id to
its lien, and decide again only when the change asks for more (longer, larger, another partition or
account); the replacement lien gets a new token.
"""

from __future__ import annotations

import contextlib
import re
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from hpcpolicy.adapters.slurm.identity import Resolver, UnknownUser, system_user
from hpcpolicy.adapters.slurm.jobdesc import JobDesc, modified, shape_of, shape_of_record
from hpcpolicy.adapters.slurm.verdict import ACCESS_DENIED, rejection_lines, slurm_error
from hpcpolicy.engine import Request
from hpcpolicy.engine.limits import Ident
from hpcpolicy.ledger.base import LedgerUnavailable
from hpcpolicy.service import Governance, Outcome
from hpcpolicy.service.errors import ServiceError
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
    """What the plugin applies. ``error`` names an ``ESLURM_*`` constant; ``messages`` go to the user."""

    allow: bool
    error: str | None = None
    messages: list[str] = []
    partition: str | None = None
    account: str | None = None
    admin_comment: str | None = None
    decision_id: str | None = None


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
        try:
            request = self._first_admissible(request)
            outcome = self.gov.decide(request, caller, reserve=True, key=submit_key(token))
        except LedgerUnavailable as exc:  # re-raised (503: the plugin's own failure mode) unless the
            outcome = self.gov.decide_fail_open(request, exc)  # partition fails open; no lien then
        if not outcome.allow:
            return refusal(outcome)
        route = outcome.decision.get("route") or {}
        return SlurmReply(
            allow=True,
            partition=route.get("partition") if route.get("partition") != shape.partition else None,
            account=outcome.decision.get("project") if shape.account is None else None,
            admin_comment=with_token(desc.admin_comment, token) if outcome.lien_id else None,
            decision_id=outcome.decision_id,
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

    def _identity(self, desc: JobDesc) -> tuple[str, tuple[str, ...]]:
        """The submitter and their Unix groups that the policy names (the engine derives roles from them)."""
        user = self.resolve(desc.number("user_id"), desc.text("user_name"))
        return user.name, self.gov.ctx.policies.current.snapshot.members.named(user.groups)


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
