"""``hpcpolicy audit explain``: decide a stored decision again, from what it saw, and compare.

What the decision saw is rebuilt from the record, not from today's state: the request as stored, the
policy revision whose version the decision names (``policy_revisions``; or a file given by the auditor,
checked to have that version), and the usage from the audit log — every usage event sealed before the
decision's own, replayed into an in-memory ledger (:mod:`hpcpolicy.ledger.event_records`), so the
balances come from the verified chain rather than from tables that may have changed since. The same
engine then decides at the decision's instant. The answer should be the same; if it is not, the
differences say where (the allow, a rule, the route, the estimate), and the notes say what the replay
could not see (usage older than the log, a policy file whose version differs).

Each violation comes with the lines of the policy text that define its rule (:mod:`.excerpt`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select

from hpcpolicy.audit.excerpt import Excerpt, excerpt
from hpcpolicy.cluster.revisions import RevisionStore
from hpcpolicy.engine import Request, compile_policy
from hpcpolicy.engine.evaluate import decide, prepare
from hpcpolicy.engine.limits import ident_problem
from hpcpolicy.ledger.event_records import USAGE_TYPES, apply
from hpcpolicy.ledger.events import DECISION_MADE
from hpcpolicy.ledger.memory import MemoryLedger
from hpcpolicy.ledger.model import DecisionRecord
from hpcpolicy.ledger.rules import snapshot
from hpcpolicy.ledger.sql.audit import first_sealed, sealed_events
from hpcpolicy.ledger.sql.connect import read_only
from hpcpolicy.ledger.sql.ledger import SqlLedger
from hpcpolicy.ledger.sql.tables import events, liens
from hpcpolicy.policy import PolicyError, parse_policy


class ExplainError(Exception):
    """The decision cannot be re-evaluated (unknown, not in the audit log, its policy text missing)."""


@dataclass(frozen=True, slots=True)
class Explanation:
    record: DecisionRecord
    policy_source: str  # where the policy text came from (a revision, a file)
    replayed: dict[str, Any]  # the decision made again
    differences: list[str]  # empty: the same answer
    usage_events: int  # usage events replayed
    notes: list[str] = field(default_factory=list)
    excerpts: list[tuple[dict[str, Any], Excerpt | None]] = field(default_factory=list)  # per stored violation

    @property
    def same(self) -> bool:
        return not self.differences


def explain(
    ledger: SqlLedger, decision_id: str, policy_text: str | None = None, env: Mapping[str, str] | None = None
) -> Explanation:
    """Re-evaluate decision ``decision_id``; ``policy_text`` overrides the stored revision (an auditor's
    copy). Raises ExplainError when it cannot."""
    if (problem := ident_problem(decision_id)) is not None:
        raise ExplainError(f"decision id: not a usable identifier: {problem}")
    with ledger.session() as tx:
        record = tx.get_decision(decision_id)
    if record is None:
        raise ExplainError(f"no decision {decision_id}")
    seq = _event_seq(ledger, decision_id)
    text, source = _policy_text(ledger, record, policy_text)
    notes: list[str] = []
    try:
        loaded = parse_policy(text, source, env=os.environ if env is None else env)
    except PolicyError as exc:
        raise ExplainError(f"the policy of {source} does not load: {exc}") from None
    if loaded.version != record.policy_version:
        notes.append(f"{source} has version {loaded.version}, not the decision's {record.policy_version}"
                     " (edited since, or other environment overrides)")  # fmt: skip
    replay, count = _usage_before(ledger, seq, record)
    notes += _gaps(ledger)
    request = Request.model_validate(record.request)
    plan = prepare(request, compile_policy(loaded.policy, loaded.version))
    usage = snapshot(plan.usage_quotas, record.at, replay.settled, lambda target: replay.reserved(target, record.at))
    again = decide(plan, usage, now=record.at).to_dict()
    violations = record.decision.get("violations", ())
    found = [(v, excerpt(text, str(v.get("code")), str(v.get("scope")))) for v in violations]
    return Explanation(record, source, again, differences(record.decision, again), count, notes, found)


def differences(stored: Mapping[str, Any], again: Mapping[str, Any]) -> list[str]:
    """What differs between the stored answer and the one made again, in words."""
    found = []
    if stored.get("allow") != again.get("allow"):
        found.append(f"allow: stored {stored.get('allow')}, now {again.get('allow')}")
    for what in ("violations", "warnings"):
        before, now = _rules(stored.get(what)), _rules(again.get(what))
        for rule in sorted(before - now):
            found.append(f"{what}: {rule[0]} at {rule[1]} was found then, not now")
        for rule in sorted(now - before):
            found.append(f"{what}: {rule[0]} at {rule[1]} is found now, not then")
    if _route(stored) != _route(again):
        found.append(f"route: stored {_route(stored)}, now {_route(again)}")
    for metric in ("cpu_hours", "gpu_hours", "cost"):
        a, b = (stored.get("estimate") or {}).get(metric), (again.get("estimate") or {}).get(metric)
        if a is not None and b is not None and abs(float(a) - float(b)) > 1e-9 * max(1.0, abs(float(a))):
            found.append(f"estimate {metric}: stored {a}, now {b}")
    return found


def _rules(entries: Any) -> set[tuple[str, str]]:
    return {(str(e.get("code")), str(e.get("scope"))) for e in entries or ()}


def _route(decision: Mapping[str, Any]) -> tuple[Any, Any] | None:
    route = decision.get("route")
    return (route.get("cluster"), route.get("partition")) if route else None


def _event_seq(ledger: SqlLedger, decision_id: str) -> int:
    query = select(events.c.seq).where(events.c.type == DECISION_MADE, events.c.subject == decision_id)
    with read_only(ledger.engine) as conn:
        row = conn.execute(query).first()
    if row is None:
        raise ExplainError(f"decision {decision_id} is not in the audit log (made before it was on?)")
    if row[0] is None:
        raise ExplainError(f"decision {decision_id} is not sealed yet: run hpcpolicy audit seal")
    return int(row[0])


def _policy_text(ledger: SqlLedger, record: DecisionRecord, given: str | None) -> tuple[str, str]:
    if given is not None:
        return given, "the policy file given"
    revision = RevisionStore(ledger).newest_with(record.policy_version)
    if revision is None:
        raise ExplainError(f"no stored policy revision has version {record.policy_version}: give it with --policy")
    stored = f"stored {revision.created_at:%Y-%m-%d %H:%M} by {revision.author}"
    return revision.text, f"policy revision {revision.id} ({stored})"


def _usage_before(ledger: SqlLedger, seq: int, record: DecisionRecord) -> tuple[MemoryLedger, int]:
    """The ledger as the usage events sealed before ``seq`` left it (the decision's own lien excluded)."""
    replay, count = MemoryLedger(), 0
    for event in sealed_events(ledger):  # from the oldest held (archived events are gone: see _gaps)
        if event.seq is None or event.seq >= seq:
            break
        if event.type in USAGE_TYPES and not (record.lien_id and event.subject == record.lien_id):
            apply(event, replay)
            count += 1
    return replay, count


def _gaps(ledger: SqlLedger) -> list[str]:
    """What the replay cannot see: events archived and pruned, liens older than the audit log."""
    notes = []
    first = first_sealed(ledger)
    if first is not None and first[0] > 1:
        notes.append(f"events before seq {first[0]} are not in the database (archived): their usage is not replayed")
    with read_only(ledger.engine) as conn:
        start = conn.execute(select(func.min(events.c.time))).scalar()
        before_log = select(func.count()).select_from(liens).where(liens.c.created_at < start)
        older = start and conn.execute(before_log).scalar()
    if older:
        notes.append(f"{older} lien(s) are older than the audit log: usage before it began is not replayed")
    return notes
