"""The decision explorer: find decision records by user, scope, code, answer and time, and show the rule
text behind each violation.

The ledger filters what its columns hold (user, time, answer) and pages newest first
(:meth:`~hpcpolicy.ledger.base.LedgerSession.recent_decisions`); what only a record's JSON holds (the
project and the rest of the account path, the codes) and who may see a record (:class:`.Viewer`) are
filtered here, reading at most :data:`MAX_SCAN` records per page: a search for something rare in a long
history stops there and says so, with a cursor to read on (older records) from where it stopped.

The rule text is the policy fragment a violation's scope names (:mod:`hpcpolicy.audit.excerpt`), found in
the policy the decision was made under: the active one if its version is the decision's, else the newest
stored revision with that version. If neither holds it, the page says the text is not available.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from hpcpolicy.audit.excerpt import Excerpt, excerpt
from hpcpolicy.engine.codes import Code
from hpcpolicy.engine.limits import MAX_SCOPE_LENGTH, ident_problem
from hpcpolicy.ledger import DecisionFilter, DecisionRecord
from hpcpolicy.service.context import Context
from hpcpolicy.service.errors import InvalidInput, NotFound
from hpcpolicy.service.viewer import Viewer, project_of

#: Records read at most to fill one page of results.
MAX_SCAN = 5000
_BATCH = 250
CODES = tuple(sorted(c.value for c in Code))


@dataclass(frozen=True, slots=True)
class DecisionQuery:
    """``scope``: decisions charging it (``project:``, ``team:``, ``org:`` or ``user:`` on the account
    path; a denied request's named project counts); ``code``: a violation or warning code."""

    user: str | None = None
    scope: str | None = None
    code: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    allow: bool | None = None

    def check(self) -> None:
        """Raise InvalidInput naming each filter that cannot match anything stored."""
        errors = []
        if self.user is not None and (problem := ident_problem(self.user)) is not None:
            errors.append(("user", f"not a usable identifier: {problem}"))
        if self.scope is not None:
            if self.scope.partition(":")[0] not in ("user", "project", "team", "org"):
                errors.append(("scope", "must be user:, project:, team: or org: and a name"))
            elif (problem := ident_problem(self.scope, MAX_SCOPE_LENGTH)) is not None:
                errors.append(("scope", f"not a usable identifier: {problem}"))
        if self.code is not None and self.code not in CODES:
            errors.append(("code", "not a reason code (docs/policy.md lists them)"))
        if self.since is not None and self.until is not None and self.since >= self.until:
            errors.append(("until", "must be after since"))
        if errors:
            raise InvalidInput.fields("decision search", errors)

    def matches(self, record: DecisionRecord) -> bool:
        """What the ledger cannot filter: the scope and the code (the rest it already did)."""
        if self.scope is not None and not concerns(record, self.scope):
            return False
        return self.code is None or self.code in codes_of(record)


@dataclass(frozen=True, slots=True)
class DecisionPage:
    """Matching records, newest first; ``more``: the cursor to read older ones from (None: none left);
    ``scanned``: records read; ``cut``: the page stopped at :data:`MAX_SCAN` before it was full."""

    records: list[DecisionRecord]
    more: tuple[datetime, str] | None
    scanned: int
    cut: bool


@dataclass(frozen=True, slots=True)
class RuleText:
    """A violation (or a rejected partition's violation) with the policy lines that define its rule."""

    violation: dict[str, Any]
    partition: str | None  # for a rejected route: cluster/partition
    fragment: Excerpt | None


@dataclass(frozen=True, slots=True)
class Explained:
    record: DecisionRecord
    rules: list[RuleText]
    policy_source: str | None  # where the rule text came from; None: the policy text is not available
    notes: list[str] = field(default_factory=list)


class DecisionExplorer:
    def __init__(self, ctx: Context):
        self.ctx = ctx

    def search(
        self, query: DecisionQuery, viewer: Viewer, limit: int = 50, before: tuple[datetime, str] | None = None
    ) -> DecisionPage:
        query.check()
        snapshot = self.ctx.policies.current.snapshot
        users = (query.user,) if query.user is not None else None
        if users is None and not viewer.everything and viewer.user is not None and not viewer.projects(snapshot):
            users = (viewer.user,)  # they can see nothing but their own: let the index do the work
        found: list[DecisionRecord] = []
        scanned = 0
        cursor = before
        while scanned < MAX_SCAN:
            where = DecisionFilter(users, query.since, query.until, query.allow, cursor)
            wanted = min(_BATCH, MAX_SCAN - scanned)
            with self.ctx.ledger.session() as tx:
                batch = tx.recent_decisions(where, wanted)
            for record in batch:
                scanned += 1
                cursor = (record.at, record.id)
                if query.matches(record) and viewer.sees(record, snapshot):
                    found.append(record)
                    if len(found) == limit:
                        return DecisionPage(found, cursor, scanned, False)
            if len(batch) < wanted:
                return DecisionPage(found, None, scanned, False)
        return DecisionPage(found, cursor, scanned, True)

    def record(self, decision_id: str) -> DecisionRecord:
        if (problem := ident_problem(decision_id)) is not None:
            raise NotFound(f"no decision with that id ({problem})")
        with self.ctx.ledger.session() as tx:
            record = tx.get_decision(decision_id)
        if record is None:
            raise NotFound(f"no decision {decision_id}")
        return record

    def explain(self, record: DecisionRecord) -> Explained:
        """Each violation of ``record`` and of its rejected routes with its rule's policy lines."""
        text, source, notes = self._policy_text(record.policy_version)
        rules: list[RuleText] = []
        decision = record.decision
        pairs: list[tuple[dict[str, Any], str | None]] = [(v, None) for v in decision.get("violations") or ()]
        for rejected in decision.get("rejected_routes") or ():
            where = f"{rejected.get('cluster')}/{rejected.get('partition')}"
            pairs += [(v, where) for v in rejected.get("violations") or ()]
        for violation, partition in pairs:
            fragment = None
            if text is not None:
                fragment = excerpt(text, str(violation.get("code")), str(violation.get("scope")))
            rules.append(RuleText(violation, partition, fragment))
        return Explained(record, rules, source, notes)

    def _policy_text(self, version: str) -> tuple[str | None, str | None, list[str]]:
        active = self.ctx.policies.current
        if active.loaded.version == version:
            return active.text, f"the active policy ({active.loaded.source})", []
        from hpcpolicy.service.policy_history import PolicyHistory  # the revision store is SQL only

        history = PolicyHistory(self.ctx)
        stored = history.with_version(version) if history.available else None
        if stored is None:
            return None, None, [f"the text of policy version {version} is not stored: no rule text to show"]
        return stored.text, f"policy revision {stored.id} ({stored.source})", []


def codes_of(record: DecisionRecord) -> set[str]:
    decision = record.decision
    entries = [*(decision.get("violations") or ()), *(decision.get("warnings") or ())]
    return {str(e.get("code")) for e in entries if isinstance(e, dict)}


def concerns(record: DecisionRecord, scope: str) -> bool:
    """Whether ``record`` charged ``scope`` (its account path), or is the user's, or named the project."""
    if scope in (record.decision.get("account_path") or ()) or scope == f"user:{record.user_id}":
        return True
    return scope.startswith("project:") and project_of(record) == scope.removeprefix("project:")
