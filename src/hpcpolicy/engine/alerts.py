"""Which alerts fire, given budget standings, running jobs, recent denials and what already fired.

Pure: the service reads standings, liens and denials, asks the ledger which of the candidates' keys were
fired already, and writes what :func:`due` leaves (docs/alerts.md). An alert's identity is its rule, its
subject (a quota id, a lien, a scope), its condition and its window: :attr:`Firing.key` hashes them, and a
unique index on that key makes firing idempotent across evaluations, replicas and restarts.

- ``used``: the highest threshold a quota has reached (any metered metric, charged plus reserved) fires
  once per window. Reaching 95 % straight from 40 % sends the 95 % alert alone, and once a threshold fired,
  lower ones stay quiet for the rest of the window (a refund does not announce 80 % after 95 %).
- ``runs_dry_before_end``: the forecast spends a budget that still has a balance before its window ends.
- ``stuck_liens``: a running job with no finish report ``grace_hours`` after its walltime ended; once per
  lien.
- ``denied_spike``: at least ``count`` denials within ``minutes`` on a scope; once per ``minutes`` bucket,
  and not in the bucket right after one that fired (a lasting spike is announced every other bucket).

A rolling window has no start to count once from: its alerts count in buckets of the window's length.
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from fnmatch import fnmatchcase
from typing import Any, Protocol

from hpcpolicy.engine.standing import MetricStanding, QuotaStanding
from hpcpolicy.policy.schema.alerts import AlertRule

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
USED, RUNS_DRY, STUCK, SPIKE = "used", "runs_dry", "stuck_lien", "denied_spike"


class RunningJob(Protocol):
    """What a stuck-lien alert says of a running job's lien (``hpcpolicy.ledger.Lien``)."""

    @property
    def id(self) -> str: ...
    @property
    def job_id(self) -> str | None: ...
    @property
    def user_id(self) -> str: ...
    @property
    def cluster(self) -> str: ...
    @property
    def partition(self) -> str: ...
    @property
    def walltime_hours(self) -> float: ...
    @property
    def started_at(self) -> datetime | None: ...


#: The order in which a stuck lien's scopes are offered to a rule.
_HOLDERS = {"project": 0, "team": 1, "org": 2, "user": 3}
#: A denied decision: when, and the scopes of its account path (the user's own at least).
Denial = tuple[datetime, tuple[str, ...]]


@dataclass(frozen=True, slots=True)
class Firing:
    """An alert to fire: its identity (``rule``, ``subject``, ``condition``, ``window_start``), the scope whose
    contacts hear of it, a one-line ``summary`` and ``details`` (JSON-ready: times as text) for the API."""

    rule: str
    scope: str
    subject: str
    condition: str
    window_start: datetime
    summary: str
    details: dict[str, Any]
    channels: tuple[str, ...]

    @property
    def key(self) -> str:
        return identity(self.rule, self.subject, self.condition, self.window_start)


@dataclass(frozen=True, slots=True)
class Candidate:
    """A firing unless one of ``quiet_if`` (its own key first) fired already."""

    firing: Firing
    quiet_if: tuple[str, ...]


def identity(rule: str, subject: str, condition: str, window_start: datetime) -> str:
    """The alert's unique key: SHA-256 of its identity (subjects may be longer than an index allows)."""
    text = "\n".join((rule, subject, condition, _utc(window_start).isoformat()))
    return hashlib.sha256(text.encode()).hexdigest()


def due(candidates: Iterable[Candidate], fired: Collection[str]) -> list[Firing]:
    """The candidates nothing already fired makes moot (once per window), each identity once."""
    out: dict[str, Firing] = {}
    for candidate in candidates:
        if not any(key in fired for key in candidate.quiet_if):
            out.setdefault(candidate.firing.key, candidate.firing)
    return list(out.values())


def applies(rule: AlertRule, scope: str) -> bool:
    """Whether one of the rule's patterns names ``scope`` (a member scope ``project:p/user:u`` is
    ``member:p/user:u`` to a pattern; ``*`` names every scope)."""
    kind, _, name = scope.partition(":")
    named = f"member:{name}" if kind == "project" and "/user:" in name else scope
    return any(fnmatchcase(named, pattern) for pattern in rule.scopes)


def budget_candidates(rules: Sequence[AlertRule], standings: Iterable[QuotaStanding]) -> list[Candidate]:
    """``used`` and ``runs_dry_before_end`` alerts of every rule on the quotas it applies to."""
    out: list[Candidate] = []
    for standing in standings:
        start = window_id(standing.window, standing.window_start, standing.window_end)
        for rule in rules:
            if not (rule.used or rule.runs_dry_before_end) or not applies(rule, standing.scope):
                continue
            if rule.used:
                out += _used(rule, standing, start)
            if rule.runs_dry_before_end:
                out += _runs_dry(rule, standing, start)
    return out


def _used(rule: AlertRule, standing: QuotaStanding, start: datetime) -> list[Candidate]:
    top = max(standing.metrics, key=lambda m: m.used, default=None)
    reached = [t for t in rule.used if top is not None and top.used >= t]
    if top is None or not reached:
        return []
    threshold = max(reached)
    over = [m for m in standing.metrics if m.used >= threshold]
    metrics = ", ".join(f"{m.metric} {_amount(m.charged + m.reserved)} of {_amount(m.limit)}" for m in over)
    dry = _dry_note(over)
    summary = f"{standing.scope}: {_percent(top.used)} of the {standing.window} budget used ({metrics}){dry}"
    firing = Firing(rule.name, standing.scope, standing.quota_id, f"{USED}:{threshold:g}", start, summary,
                    _details(USED, standing, over, threshold=threshold), tuple(rule.channels))  # fmt: skip
    higher = [identity(rule.name, standing.quota_id, f"{USED}:{t:g}", start) for t in rule.used if t > threshold]
    return [Candidate(firing, (firing.key, *higher))]


def _runs_dry(rule: AlertRule, standing: QuotaStanding, start: datetime) -> list[Candidate]:
    drying = [m for m in standing.metrics if m.available > 0 and m.forecast.dry_before_end]
    if not drying:
        return []
    metrics = ", ".join(f"{m.metric} {_amount(m.available)} left at {_amount(m.forecast.rate_per_day)}/day"
                        for m in drying)  # fmt: skip
    end = _utc(standing.window_end).date().isoformat()
    summary = f"{standing.scope}: the {standing.window} budget runs dry before {end}{_dry_note(drying)} ({metrics})"
    firing = Firing(rule.name, standing.scope, standing.quota_id, RUNS_DRY, start, summary,
                    _details(RUNS_DRY, standing, drying), tuple(rule.channels))  # fmt: skip
    return [Candidate(firing, (firing.key,))]


def stuck_candidates(
    rules: Sequence[AlertRule], running: Iterable[tuple[RunningJob, Sequence[str]]], now: datetime
) -> list[Candidate]:
    """A running lien (with the scopes of its account path) past its walltime plus the rule's grace, without
    a finish report: once per lien, for the first scope of its path the rule applies to, in the order
    project, team, org, user (the budget holders before the job's owner)."""
    out: list[Candidate] = []
    stuck_rules = [(rule, stuck) for rule in rules if (stuck := rule.stuck) is not None]
    for lien, scopes in running:
        if lien.started_at is None:
            continue
        ended = lien.started_at + timedelta(hours=lien.walltime_hours)
        kinds = {scope: scope.partition(":")[0] for scope in scopes}
        path = sorted((s for s, kind in kinds.items() if kind in _HOLDERS), key=lambda s: _HOLDERS[kinds[s]])
        for rule, stuck in stuck_rules:
            scope = next((s for s in path if applies(rule, s)), None)
            overdue = (now - ended).total_seconds() / 3600
            if scope is None or overdue < stuck.grace_hours:
                continue
            job = f"job {lien.job_id} on {lien.cluster}" if lien.job_id else f"lien {lien.id}"
            summary = (f"{scope}: {job} ({lien.user_id}, {lien.partition}) is {overdue:.1f} h past its "
                       f"{lien.walltime_hours:g} h walltime with no end reported; its reservation still counts")
            details = {"kind": STUCK, "lien_id": lien.id, "job_id": lien.job_id, "user_id": lien.user_id,
                       "cluster": lien.cluster, "partition": lien.partition, "started_at": _iso(lien.started_at),
                       "walltime_hours": lien.walltime_hours, "overdue_hours": round(overdue, 3)}  # fmt: skip
            firing = Firing(rule.name, scope, f"lien:{lien.id}", STUCK, _utc(lien.started_at), summary, details,
                            tuple(rule.channels))  # fmt: skip
            out.append(Candidate(firing, (firing.key,)))
    return out


def spike_candidates(rules: Sequence[AlertRule], denials: Sequence[Denial], now: datetime) -> list[Candidate]:
    """Scopes with at least ``count`` denials in the last ``minutes`` (each denial counts on every scope of
    its path), per rule that watches for spikes and applies to the scope."""
    out: list[Candidate] = []
    for rule in rules:
        spike = rule.denied_spike
        if spike is None:
            continue
        span = timedelta(minutes=spike.minutes)
        since = now - span
        counts = Counter(scope for at, scopes in denials if at >= since for scope in set(scopes))
        bucket = EPOCH + span * ((_utc(now) - EPOCH) // span)
        for scope, count in sorted(counts.items()):
            if count < spike.count or not applies(rule, scope):
                continue
            summary = f"{scope}: {count} requests denied in the last {spike.minutes} min (alert at {spike.count})"
            details = {"kind": SPIKE, "count": count, "minutes": spike.minutes, "threshold": spike.count,
                       "since": _iso(since)}  # fmt: skip
            firing = Firing(rule.name, scope, scope, SPIKE, bucket, summary, details, tuple(rule.channels))
            before = identity(rule.name, scope, SPIKE, bucket - span)
            out.append(Candidate(firing, (firing.key, before)))
    return out


def window_id(label: str, start: datetime, end: datetime) -> datetime:
    """The start an alert counts once from: the window's own, or for a rolling window (which starts anew
    every instant) the start of the bucket of its length holding its end."""
    if not label.startswith("rolling "):
        return _utc(start)
    length = timedelta(days=max(1, round((end - start).total_seconds() / 86400)))
    return EPOCH + length * ((_utc(end) - EPOCH) // length)


def _details(kind: str, standing: QuotaStanding, metrics: Sequence[MetricStanding], **extra: Any) -> dict[str, Any]:
    return {"kind": kind, "quota_id": standing.quota_id, "window": standing.window,
            "window_start": _iso(standing.window_start), "window_end": _iso(standing.window_end), **extra,
            "metrics": [_metric(m) for m in metrics]}  # fmt: skip


def _metric(m: MetricStanding) -> dict[str, Any]:
    f = m.forecast
    return {"metric": m.metric, "limit": m.limit, "charged": m.charged, "reserved": m.reserved,
            "available": m.available, "used": _finite(m.used), "rate_per_day": _finite(f.rate_per_day),
            "runs_dry_at": _iso(f.runs_dry_at) if f.runs_dry_at else None,
            "dry_before_end": f.dry_before_end}  # fmt: skip


def _dry_note(metrics: Sequence[MetricStanding]) -> str:
    dates = [m.forecast.runs_dry_at for m in metrics if m.available > 0 and m.forecast.runs_dry_at is not None]
    return f"; runs dry about {_utc(min(dates)).date().isoformat()}" if dates else ""


def _percent(used: float) -> str:
    return "all" if math.isinf(used) else f"{used * 100:.0f} %"


def _amount(value: float) -> str:
    return f"{value:,.1f}".rstrip("0").rstrip(".")


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _iso(moment: datetime) -> str:
    """Details are JSON as stored: times as RFC 3339 UTC text."""
    return _utc(moment).isoformat().replace("+00:00", "Z")


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
