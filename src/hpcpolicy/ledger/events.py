"""Audit events: what each ledger write records, and the hash chain that makes edits visible.

Every ledger session method that changes state also records one :class:`Event` in the same transaction
(docs/design/audit.md): an event exists exactly when its change committed. Events are CloudEvents 1.0
in shape (``id``, ``type``, ``subject``, ``time``, ``data``). Order and tamper evidence come afterwards,
when a sealer gives each event the next ``seq`` and ``hash = SHA-256(prev_hash:seq:SHA-256(body))``
(:func:`link`); :func:`verify_stored` walks sealed events and names the first that was edited, deleted,
inserted or moved.

This module is pure: building events from records, the canonical form, hashing, verifying.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from hpcpolicy.ledger.alerts import AlertDelivery, AlertRecord
from hpcpolicy.ledger.model import Adjustment, Charge, DecisionRecord, Lien, LienState
from hpcpolicy.ledger.queue import QueuedRequest, QueueState

#: The CloudEvents ``source`` of every event this service records.
SOURCE = "hpcpolicy"
#: The hash a chain starts from.
GENESIS = "0" * 64
#: Canonical JSON: sorted keys, times as RFC 3339 UTC with ``Z`` (naive times are UTC), serialised by orjson
#: itself (formatting each time in Python cost a fifth of an event).
_CANONICAL = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS | orjson.OPT_UTC_Z | orjson.OPT_NAIVE_UTC

DECISION_MADE = "hpcpolicy.decision.made"
LIEN_RESERVED = "hpcpolicy.lien.reserved"
CHARGE_RECORDED = "hpcpolicy.charge.recorded"
ADJUSTMENT_RECORDED = "hpcpolicy.adjustment.recorded"
POLICY_REVISED = "hpcpolicy.policy.revised"
KEY_CREATED = "hpcpolicy.key.created"
KEY_REVOKED = "hpcpolicy.key.revoked"
ALERT_FIRED = "hpcpolicy.alert.fired"
#: A held request's life in the admission queue (:mod:`hpcpolicy.ledger.queue`).
QUEUE_STATE = {
    QueueState.QUEUED: "hpcpolicy.queue.held",
    QueueState.ADMITTED: "hpcpolicy.queue.admitted",
    QueueState.DENIED: "hpcpolicy.queue.denied",
    QueueState.CANCELLED: "hpcpolicy.queue.cancelled",
    QueueState.EXPIRED: "hpcpolicy.queue.expired",
}
#: A lien's later states: started, finished, cancelled, failed, expired; ``updated`` while still reserved
#: (a job id bound at admission).
LIEN_STATE = {
    LienState.RESERVED: "hpcpolicy.lien.updated",
    LienState.RUNNING: "hpcpolicy.lien.started",
    LienState.FINISHED: "hpcpolicy.lien.finished",
    LienState.CANCELLED: "hpcpolicy.lien.cancelled",
    LienState.FAILED: "hpcpolicy.lien.failed",
    LienState.EXPIRED: "hpcpolicy.lien.expired",
}
TYPES = frozenset({DECISION_MADE, LIEN_RESERVED, CHARGE_RECORDED, ADJUSTMENT_RECORDED, POLICY_REVISED, KEY_CREATED,
                   KEY_REVOKED, ALERT_FIRED, *LIEN_STATE.values(), *QUEUE_STATE.values()})  # fmt: skip


@dataclass(frozen=True, slots=True)
class Event:
    """One state change. ``seq``, ``prev_hash`` and ``hash`` are None until the event is sealed."""

    event_id: str
    type: str
    subject: str
    time: datetime
    actor: str | None
    request_id: str | None
    scopes: tuple[str, ...]
    data: dict[str, Any]
    seq: int | None = None
    prev_hash: str | None = None
    hash: str | None = None

    def body(self) -> str:
        """The event's content as canonical JSON (orjson: sorted keys, no spaces, shortest float form):
        what the writer stores and digests once, so that sealing reads only digests and verifying
        re-reads the stored text."""
        content = {
            "id": self.event_id,
            "type": self.type,
            "source": SOURCE,
            "subject": self.subject,
            "time": self.time,
            "actor": self.actor,
            "request_id": self.request_id,
            "scopes": list(self.scopes),
            "data": self.data,
        }
        return orjson.dumps(content, option=_CANONICAL, default=str).decode()

    def cloudevent(self) -> dict[str, Any]:
        """The CloudEvents 1.0 JSON form (structured mode), with the chain in extension attributes."""
        return {
            "specversion": "1.0",
            "id": self.event_id,
            "source": SOURCE,
            "type": self.type,
            "subject": self.subject,
            "time": instant(self.time),
            "datacontenttype": "application/json",
            "hpcpolicyseq": self.seq,
            "hpcpolicyhash": self.hash,
            "hpcpolicyactor": self.actor,
            "hpcpolicyrequestid": self.request_id,
            "data": self.data,
        }


def digest(body: str) -> str:
    """SHA-256 of an event's stored body."""
    return hashlib.sha256(body.encode()).hexdigest()


def link(prev_hash: str, seq: int, body_digest: str) -> str:
    """The chain's hash of the ``seq``-th event: it covers its body (by digest), its place and the chain
    before it."""
    return hashlib.sha256(f"{prev_hash}:{seq}:{body_digest}".encode()).hexdigest()


def links(seq: int, prev_hash: str, digests: Iterable[str]) -> Iterator[tuple[int, str, str]]:
    """(seq, prev_hash, hash) of each event, by its body's digest, appended to a chain whose last event is
    the ``seq``-th with hash ``prev_hash`` (0 and :data:`GENESIS` for an empty chain)."""
    for body_digest in digests:
        seq += 1
        chain_hash = link(prev_hash, seq, body_digest)
        yield seq, prev_hash, chain_hash
        prev_hash = chain_hash


def sealed(event: Event, seq: int, prev_hash: str) -> Event:
    """``event`` as the ``seq``-th of the chain, after the event whose hash is ``prev_hash``."""
    return Event(event.event_id, event.type, event.subject, event.time, event.actor, event.request_id,
                 event.scopes, event.data, seq, prev_hash, link(prev_hash, seq, digest(event.body())))  # fmt: skip


@dataclass(frozen=True, slots=True)
class PolicyRevisionFacts:
    """What a policy revision's event records (the store's row without its text)."""

    id: int
    previous_id: int
    version: str
    source: str
    author: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Tamper:
    """The first place a chain does not hold: ``kind`` is edited, deleted, inserted or reordered."""

    kind: str
    seq: int
    detail: str

    def __str__(self) -> str:
        return f"event {self.seq}: {self.kind}: {self.detail}"


#: A sealed event as stored: seq, prev_hash, hash, event_id, type, subject, time, actor, request_id, scopes
#: (space-separated) and the body text. Verification reads these and nothing else. ``time`` is a datetime
#: (naive UTC or aware) or the ISO text SQLite stores.
StoredEvent = tuple[int | None, str | None, str | None, str, str, str, datetime | str, str | None, str | None, str, str]


def verify_chain(events: Iterable[Event], start_seq: int = 1, start_hash: str = GENESIS) -> Tamper | None:
    """:func:`verify_stored` of events in memory (their canonical bodies as a writer would store them)."""
    rows = ((e.seq, e.prev_hash, e.hash, e.event_id, e.type, e.subject, e.time, e.actor, e.request_id,
             " ".join(e.scopes), e.body()) for e in events)  # fmt: skip
    return verify_stored(rows, start_seq, start_hash)


def verify_stored(
    rows: Iterable[StoredEvent], start_seq: int = 1, start_hash: str = GENESIS, counted: list[int] | None = None
) -> Tamper | None:
    """Walk sealed events in ``seq`` order from ``start_seq`` (whose predecessor hashed ``start_hash``)
    and return the first break, or None when every event chains to the one before it.

    The kinds: a missing ``seq`` is *deleted*; the same ``seq`` twice is *inserted*; an event whose stored
    body no longer gives its hash, or whose columns say something else than its body, is *edited*; an
    event that hashes right but names another predecessor than the event before it is *reordered* (moved,
    or its predecessor was replaced). Hashing the stored body and comparing columns with it (rather than
    rebuilding the body) keeps this at a few microseconds an event. ``counted`` (a one-item list), when given,
    ends up holding how many rows were read. A row's ``time`` may be naive (UTC) or aware."""
    expected_seq, previous = start_seq, start_hash
    seen_hashes: dict[str, int] = {}
    sha256, loads, parse_time = hashlib.sha256, orjson.loads, datetime.fromisoformat
    read = 0
    stream = iter(rows)
    try:
        for seq, prev_hash, chain_hash, event_id, kind, subject, time, actor, request_id, scopes, body in stream:
            read += 1
            if seq is None or chain_hash is None or prev_hash is None:
                continue  # not sealed yet: not covered
            if seq < expected_seq:
                return Tamper("inserted", seq, f"a second event with seq {seq} ({event_id})")
            if seq > expected_seq:
                return Tamper("deleted", expected_seq, f"seq {expected_seq}..{seq - 1} missing before {event_id}")
            body_digest = sha256(body.encode()).hexdigest()  # digest() and link(), inlined: the hot loop
            if sha256(f"{prev_hash}:{seq}:{body_digest}".encode()).hexdigest() != chain_hash:
                return _moved(seq, prev_hash, body_digest, chain_hash, next(stream, None)) or Tamper(
                    "edited", seq, f"{event_id} ({kind}) does not match its hash"
                )
            get = loads(body).get
            if isinstance(time, str):  # SQLite's stored text, read without conversion
                time = parse_time(time)
            elif time.tzinfo is not None:
                time = time.replace(tzinfo=None)
            columns = (event_id, kind, subject, actor, request_id, scopes)
            if (get("id") != event_id or get("type") != kind or get("subject") != subject or get("actor") != actor
                    or get("request_id") != request_id or " ".join(get("scopes") or ()) != scopes
                    or _sealed_time(get("time")) != time):  # fmt: skip
                which = _differing(get, columns)
                return Tamper("edited", seq, f"{event_id} ({kind}): its {which} is not what was sealed")
            if prev_hash != previous:
                moved = seen_hashes.get(prev_hash)
                where = f"it follows event {moved}" if moved is not None else "its predecessor is not in the chain"
                return Tamper("reordered", seq, f"{event_id}: {where}")
            seen_hashes[chain_hash] = seq
            previous, expected_seq = chain_hash, seq + 1
        return None
    finally:
        if counted is not None:
            counted[0] = read


def _moved(
    seq: int, prev_hash: str, body_digest: str, chain_hash: str, following: StoredEvent | None, reach: int = 100
) -> Tamper | None:
    """An event that hashes right under another number was renumbered: events were inserted before it
    (it was sealed with a smaller number), or deleted before it (a larger one) — unless the event after it
    was sealed with a smaller number than its own: then the two were swapped (reordered). The slow path
    of a break."""
    sealed_as = _sealed_number(seq, prev_hash, body_digest, chain_hash, reach)
    if sealed_as is None:
        return None
    if sealed_as > seq and following is not None and following[0] is not None and following[1] and following[2]:
        later = _sealed_number(following[0], following[1], digest(following[10]), following[2], reach)
        if later is not None and later < following[0]:
            return Tamper("reordered", seq, f"the events sealed as {sealed_as} and {later} changed places")
    kind, shift = ("inserted", seq - sealed_as) if sealed_as < seq else ("deleted", sealed_as - seq)
    return Tamper(kind, min(sealed_as, seq), f"the event now at {seq} was sealed as {sealed_as}: {shift} "
                                             f"event(s) {kind} before it and the rest renumbered")  # fmt: skip


def _sealed_number(seq: int, prev_hash: str, body_digest: str, chain_hash: str, reach: int) -> int | None:
    """The number near ``seq`` an event's hash was sealed under, if any."""
    for shift in range(1, reach + 1):
        for sealed_as in (seq - shift, seq + shift):
            if sealed_as > 0 and link(prev_hash, sealed_as, body_digest) == chain_hash:
                return sealed_as
    return None


def _sealed_time(text: object) -> datetime | None:
    """The naive UTC time a sealed body names (None if it names none that parses)."""
    if not isinstance(text, str):
        return None
    try:
        return datetime.fromisoformat(text[:-1] if text.endswith("Z") else text)
    except ValueError:
        return None


def _differing(get: Any, columns: tuple[str | None, ...]) -> str:
    """The first column that says something else than the sealed body (the slow path of a found edit)."""
    sealed = (get("id"), get("type"), get("subject"), get("actor"), get("request_id"), " ".join(get("scopes") or ()))
    names = ("event_id", "type", "subject", "actor", "request_id", "scopes")
    return next((name for name, a, b in zip(names, columns, sealed, strict=True) if a != b), "time")


# -- events of ledger records -------------------------------------------------------------------------


def decision_event(record: DecisionRecord, request_id: str | None) -> Event:
    decision = record.decision
    scopes = tuple(decision.get("account_path") or (f"user:{record.user_id}",))
    # What an auditor asks of a decision: who asked what, the answer with its codes, route and estimate, and
    # the policy version that gave it (the full decision, balances included, stays in the decisions table).
    codes = [v.get("code") for v in decision.get("violations", ())]
    data = {"id": record.id, "allow": record.allow, "user_id": record.user_id, "caller": record.caller,
            "policy_version": record.policy_version, "lien_id": record.lien_id, "key": record.key,
            "request": record.request, "codes": codes, "route": decision.get("route"),
            "estimate": decision.get("estimate"),
            "warnings": [w.get("code") for w in decision.get("warnings", ())]}  # fmt: skip
    return _event(DECISION_MADE, record.id, record.at, record.caller, request_id, scopes, data)


def lien_event(lien: Lien, *, new: bool, at: datetime, request_id: str | None) -> Event:
    kind = LIEN_RESERVED if new else LIEN_STATE[lien.state]
    return _event(kind, lien.id, at, None, request_id, _path(lien), _lien_data(lien))


def queue_event(entry: QueuedRequest, actor: str | None, request_id: str | None) -> Event:
    """A request held, or its wait ended (admitted, denied, cancelled, expired): who, what holds it, until when."""
    at = entry.resolved_at or entry.at
    scopes = tuple(f"{kind}:{name}" for kind, name in (("user", entry.user_id), ("project", entry.project)) if name)
    data = {"id": entry.id, "state": entry.state.value, "user_id": entry.user_id, "project": entry.project,
            "service": entry.service, "caller": entry.caller, "blocked_by": list(entry.blocked_by),
            "held_at": entry.at, "expires_at": entry.expires_at, "key": entry.key}  # fmt: skip
    return _event(QUEUE_STATE[entry.state], entry.id, at, actor, request_id, scopes, data)


def charge_event(charge: Charge, request_id: str | None) -> Event:
    a = charge.amounts
    data = {"id": charge.id, "lien_id": charge.lien_id, "job_id": charge.job_id, "user_id": charge.user_id,
            "project": charge.project, "cluster": charge.cluster, "partition": charge.partition,
            "cpu_hours": a.cpu_hours, "gpu_hours": a.gpu_hours, "cost": a.cost, "at": charge.at,
            "source": charge.source, "key": charge.key, "gpu_type": charge.gpu_type,
            "raw_hours": list(charge.raw_hours) if charge.raw_hours else None}  # fmt: skip
    return _event(CHARGE_RECORDED, charge.id, charge.at, None, request_id, _path(charge), data)


def adjustment_event(adjustment: Adjustment, request_id: str | None) -> Event:
    a = adjustment.amounts
    data = {"id": adjustment.id, "scope": adjustment.scope, "kind": adjustment.kind.value,
            "cpu_hours": a.cpu_hours, "gpu_hours": a.gpu_hours, "cost": a.cost, "reason": adjustment.reason,
            "author": adjustment.author, "key": adjustment.key}  # fmt: skip
    scope = adjustment.scope.partition("#")[0].partition("[")[0]
    return _event(ADJUSTMENT_RECORDED, adjustment.id, adjustment.at, adjustment.author, request_id, (scope,), data)


def policy_event(revision: PolicyRevisionFacts, changes: dict[str, Any], request_id: str | None) -> Event:
    """A policy made active: who stored it, from where, which version, and what changed (``changes``: a
    summary from :func:`hpcpolicy.policy.diff.summarize`); the text itself stays in ``policy_revisions``."""
    data = {"id": revision.id, "previous_id": revision.previous_id, "version": revision.version,
            "source": revision.source, "author": revision.author, "changes": changes}  # fmt: skip
    return _event(POLICY_REVISED, f"policy:{revision.id}", revision.created_at, revision.author, request_id,
                  ("policy",), data)  # fmt: skip


def key_event(created: bool, key_id: str, name: str, scopes: Iterable[str], may_assert_identity: bool,
              at: datetime, actor: str) -> Event:  # fmt: skip
    """An API key created or revoked (its id, holder and grants; never the secret or its hash)."""
    data = {"key_id": key_id, "name": name, "scopes": sorted(scopes), "may_assert_identity": may_assert_identity}
    return _event(KEY_CREATED if created else KEY_REVOKED, f"key:{key_id}", at, actor, None, ("keys",), data)


def alert_event(alert: AlertRecord, deliveries: Iterable[AlertDelivery]) -> Event:
    """An alert fired: its identity, what it says, and where it is to be delivered (webhook names and
    addresses; never a webhook's URL)."""
    data = {"id": alert.id, "key": alert.key, "rule": alert.rule, "scope": alert.scope, "subject": alert.subject,
            "condition": alert.condition, "window_start": alert.window_start, "summary": alert.summary,
            "details": alert.details,
            "deliveries": [{"channel": d.channel, "recipient": d.recipient} for d in deliveries]}  # fmt: skip
    return _event(ALERT_FIRED, f"alert:{alert.id}", alert.fired_at, None, None, (alert.scope,), data)


def _event(kind: str, subject: str, at: datetime, actor: str | None, request_id: str | None,
           scopes: tuple[str, ...], data: dict[str, Any]) -> Event:  # fmt: skip
    return Event(_uuid4(), kind, subject, at.astimezone(UTC) if at.tzinfo else at.replace(tzinfo=UTC),
                 actor, request_id, scopes, data)  # fmt: skip


def _uuid4() -> str:
    """A random (version 4) UUID as text at a fifth of ``str(uuid.uuid4())``'s cost (two per decision). An
    event id must be unique, not secret: 122 bits from the process's generator (reseeded in forked
    children) do, without a system call per event."""
    h = f"{_random_bits(128) & _UUID4_MASK | _UUID4_BITS:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


_random_bits = random.getrandbits
_UUID4_MASK = ~((0xF000 << 64) | (0xC000 << 48))  # the version and variant bits cleared...
_UUID4_BITS = (0x4000 << 64) | (0x8000 << 48)  # ...and set: version 4, RFC 4122 variant


def _path(entry: Lien | Charge) -> tuple[str, ...]:
    named = (("user", entry.user_id), ("project", entry.project), ("team", entry.team), ("org", entry.org))
    return tuple(f"{kind}:{name}" for kind, name in named if name)


def _lien_data(lien: Lien) -> dict[str, Any]:
    a = lien.amounts
    return {"id": lien.id, "decision_id": lien.decision_id, "state": lien.state.value, "job_id": lien.job_id,
            "user_id": lien.user_id, "project": lien.project, "cluster": lien.cluster,
            "partition": lien.partition, "cpus": lien.cpus, "gpus": lien.gpus, "gpu_type": lien.gpu_type,
            "memory_gb": lien.memory_gb, "nodes": lien.nodes, "walltime_hours": lien.walltime_hours,
            "cpu_hours": a.cpu_hours, "gpu_hours": a.gpu_hours, "cost": a.cost,
            "created_at": lien.created_at, "expires_at": lien.expires_at,
            "started_at": lien.started_at, "ended_at": lien.ended_at,
            "policy_version": lien.policy_version, "rates": list(lien.rates),
            "weights": list(lien.weights), "service": lien.service, "closed_at": lien.closed_at}  # fmt: skip


def instant(moment: datetime) -> str:
    """RFC 3339 in UTC with ``Z`` (a naive time is UTC): how events and checkpoints write times."""
    moment = moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    return moment.isoformat().replace("+00:00", "Z")
