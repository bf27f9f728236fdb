"""What a job held in the admission queue carries in Slurm: a mark in its admin comment, a status in its comment.

The submit hook holds such a job with ``priority = 0``. Slurm calls that a *user* hold when a plugin sets it
(``Reason=JobHeldUser``), which the user could release with ``scontrol release``; the mark
(:data:`HOLD_MARK`, in the admin comment, which only Slurm administrators can change) makes the plugin's
modify hook refuse every release while it is there. The sync clears it just before releasing the job.

The comment is what the user reads in ``squeue -o %k`` and ``scontrol show job``: hpcpolicy's status first
(``hpcpolicy: waiting for a concurrency slot (concurrency.max_jobs), position 3``), then, after
:data:`SEPARATOR`, the comment the user gave at submission, which the sync puts back alone once it has
released the job. Statuses are built from engine codes and numbers only, never from text a user controls,
and never contain the separator, so the two parts can be told apart again.

Which pending jobs are the queue's (:func:`queued_hold`): those with the mark, and those on hold whose
comment still shows the waiting status: a sync that cleared the mark but could not release the job finds it
again by that. A released job its user or an administrator holds later has neither, and is left alone.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from hpcpolicy.ledger.queue import QueuedRequest, QueueState

#: In the admin comment of a job the queue holds; not ``hpcpolicy:...`` (that is how tokens are found).
HOLD_MARK = "hpcpolicy-held"
STATUS_PREFIX = "hpcpolicy: "
WAITING_PREFIX = f"{STATUS_PREFIX}waiting for a concurrency slot"
SEPARATOR = " | "
_MARK = re.compile(rf"(?:^|\s){re.escape(HOLD_MARK)}(?=\s|$)")


def clean(text: object) -> str:
    """``text`` fit for an ``scontrol`` argument and a terminal: a string, every character that does not
    print (NUL, newlines, escapes, Unicode line separators) as a space."""
    if not isinstance(text, str):
        return ""
    return text if text.isprintable() else "".join(ch if ch.isprintable() else " " for ch in text)


def marked(admin_comment: str | None) -> bool:
    return bool(_MARK.search(admin_comment or ""))


def queued_hold(admin_comment: str, comment: str, on_hold: bool) -> bool:
    """Whether a pending job is one the admission queue holds (or held, its release not yet done)."""
    return marked(admin_comment) or (on_hold and comment.startswith(WAITING_PREFIX))


def with_mark(admin_comment: str) -> str:
    return admin_comment if marked(admin_comment) else f"{admin_comment} {HOLD_MARK}".strip()


def without_mark(admin_comment: str | None) -> str:
    return " ".join(_MARK.sub(" ", clean(admin_comment)).split())


def own_part(comment: object) -> str:
    """The user's own comment inside a held job's comment (all of it when hpcpolicy's status is not first)."""
    text = clean(comment)
    if not text.startswith(STATUS_PREFIX):
        return text
    _, sep, rest = text.partition(SEPARATOR)
    return rest if sep else ""


def compose(status: str, own: str) -> str:
    """The comment to show: hpcpolicy's status, then the user's own comment."""
    return f"{status}{SEPARATOR}{own}" if own else status


def waiting_status(codes: Iterable[str], position: int | None) -> str:
    where = f", position {position}" if position is not None else ""
    return f"{WAITING_PREFIX} ({', '.join(codes) or 'concurrency'}){where}"


def refused_status(entry: QueuedRequest) -> str:
    """Why a held job is cancelled, from its queue entry's outcome (codes and numbers, nothing user-written)."""
    if entry.state is QueueState.DENIED:
        return f"{STATUS_PREFIX}cancelled: refused when a slot freed ({', '.join(violation_codes(entry.decision))})"
    if entry.state is QueueState.EXPIRED:
        limit = duration(entry.expires_at - entry.at)
        return f"{STATUS_PREFIX}cancelled: waited the queue's limit of {limit} for a slot"
    return f"{STATUS_PREFIX}cancelled: withdrawn from the admission queue"


def duration(span: timedelta) -> str:
    """``36 h`` or ``7 days``: how long a wait was allowed, as a user reads it."""
    hours = span / timedelta(hours=1)
    return f"{hours:.3g} h" if hours < 48 else f"{hours / 24:.3g} days"


def violation_codes(decision: dict[str, Any]) -> list[str]:
    """The distinct rule codes of a decision, in order (engine codes: dotted identifiers)."""
    codes: list[str] = []
    for violation in decision.get("violations") or []:
        code = str(violation.get("code", "")) if isinstance(violation, dict) else ""
        if re.fullmatch(r"[a-z_.]{1,64}", code) and code not in codes:
            codes.append(code)
    return codes
