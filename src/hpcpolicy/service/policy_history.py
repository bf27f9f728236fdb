"""The policy's history for people: its revisions newest first, and what each changed from the one before
(the setting-level summary the audit log records, and the text's line diff).

Revisions live in the SQL ledger's ``policy_revisions`` table (:mod:`hpcpolicy.cluster.revisions`); the
in-memory ledger keeps none, so there the history is unavailable rather than empty.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hpcpolicy.ledger.events import PolicyRevisionFacts
from hpcpolicy.ledger.sql.ledger import SqlLedger
from hpcpolicy.policy.diff import summarize
from hpcpolicy.service.context import Context
from hpcpolicy.service.errors import NotFound

if TYPE_CHECKING:
    from hpcpolicy.cluster.revisions import PolicyRevision, RevisionStore

#: Lines of context around each change in a diff.
CONTEXT_LINES = 3
#: A diff longer than this many lines is cut (the page says so): a rewritten 100,000-line policy is not read
#: line by line in a browser.
MAX_DIFF_LINES = 5000


@dataclass(frozen=True, slots=True)
class RevisionDiff:
    """Revision ``revision`` against the one it replaced (``previous``: None for the first): ``summary`` as
    :func:`hpcpolicy.policy.diff.summarize` gives it, ``lines`` of a unified diff as (kind, text) with kind
    one of ``hunk``, ``add``, ``del``, ``same``; ``cut``: lines left out past :data:`MAX_DIFF_LINES`."""

    revision: PolicyRevision
    previous: PolicyRevision | None
    summary: dict[str, Any]
    lines: list[tuple[str, str]]
    cut: int


class PolicyHistory:
    def __init__(self, ctx: Context):
        self.ctx = ctx
        self._store: RevisionStore | None = None
        if isinstance(ctx.ledger, SqlLedger):
            from hpcpolicy.cluster.revisions import RevisionStore  # the cluster package imports this one's

            self._store = RevisionStore(ctx.ledger)

    @property
    def available(self) -> bool:
        return self._store is not None

    def entries(self, limit: int = 100, before: int | None = None) -> list[PolicyRevisionFacts]:
        """Revisions newest first (none without a revision store)."""
        return self._store.history(limit, before) if self._store is not None else []

    def with_version(self, version: str) -> PolicyRevision | None:
        """The newest revision holding policy ``version``, or None."""
        return self._store.newest_with(version) if self._store is not None else None

    def diff(self, revision_id: int) -> RevisionDiff:
        """Revision ``revision_id`` against its predecessor. NotFound if there is no such revision."""
        revision = self._store.get(revision_id) if self._store is not None else None
        if revision is None:
            raise NotFound(f"no policy revision {revision_id}")
        previous = self._store.get(revision.previous_id) if self._store is not None and revision.previous_id else None
        before = previous.text if previous is not None else None
        lines = diff_lines(before or "", revision.text)
        cut = max(len(lines) - MAX_DIFF_LINES, 0)
        return RevisionDiff(revision, previous, summarize(before, revision.text), lines[:MAX_DIFF_LINES], cut)


def diff_lines(old: str, new: str) -> list[tuple[str, str]]:
    """A unified diff of two texts as (kind, line) pairs, without the ``---``/``+++`` header."""
    out: list[tuple[str, str]] = []
    diff = difflib.unified_diff(old.splitlines(), new.splitlines(), lineterm="", n=CONTEXT_LINES)
    for line in diff:
        if line.startswith(("---", "+++")) and not out:
            continue
        kind = {"@": "hunk", "+": "add", "-": "del"}.get(line[:1], "same")
        out.append((kind, line))
    return out
