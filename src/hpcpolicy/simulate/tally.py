"""Governance figures gathered while a replay runs: counts, dry budgets and burn-down, at O(1) per decision.

* allowed and denied jobs, denials by reason code (a job denied for two reasons counts under both)
  and by account (the project charged, else the user);
* when each budget ran dry: the first denial for lack of balance on a quota and metric, once per
  calendar window (month, quarter, year) and once for a rolling window or fixed allocation, with the
  balance that was left and how many jobs that quota refused in that window;
* burn-down: each quota's available balance (limit − charges − open liens in its current window) as
  the decisions saw it, sampled at most once per quota in each of ``buckets`` slices of the trace;
* per account, jobs the admission queue held and the wait of every job that ran (for the fairness table).

A held job is decided again when a slot frees; only that final decision is counted (allowed or denied; a
job that waits past the queue's TTL counts denied with what held it), so ``decisions`` is one per job.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

from hpcpolicy.engine import Amounts, Code, Decision, PolicySnapshot, window_bounds
from hpcpolicy.engine.snapshot import METERED
from hpcpolicy.engine.windows import describe, is_calendar
from hpcpolicy.policy.schema import Quota

from .clock import TraceClock

_DRY = {Code.QUOTA_CPU_HOURS.value: "cpu_hours", Code.QUOTA_GPU_HOURS.value: "gpu_hours", Code.QUOTA_COST.value: "cost"}


class GovernanceTally:
    def __init__(self, snap: PolicySnapshot, clock: TraceClock, first: float, last: float, buckets: int = 400):
        self.clock = clock
        self.allowed = self.denied = 0
        self.codes: Counter[str] = Counter()
        self.warnings: Counter[str] = Counter()  # warning code → decisions that carried it (v2 soft limits)
        self.accounts: dict[str, list[float]] = {}  # account → [allowed, denied, cpu_hours, gpu_hours, cost]
        self.held: Counter[str] = Counter()  # account → jobs held by the admission queue
        self.held_codes: Counter[str] = Counter()  # code → jobs held for it
        self.expired = 0  # held jobs that waited past the queue's TTL (counted denied too)
        self.waits: dict[str, list[float]] = {}  # account → wait of each job that ran, seconds
        self.dry: list[dict[str, Any]] = []
        self.burn: dict[str, list[list[float | None]]] = {}
        self._open: dict[tuple[str, str], tuple[float, dict[str, Any]]] = {}  # (quota, metric) → (window end, event)
        self._bucket: dict[str, int] = {}  # quota id → the last slice it was sampled in
        self._current = -1  # the slice of the latest decision, and the quotas sampled in it
        self._sampled: set[str] = set()
        self._project_accounts: dict[str | None, str] = {}  # project → "project:<name>", built once
        self._first = first
        self._width = max((last - first) / buckets, 1e-9)
        self._quotas = {ref.id: ref.quota for refs in snap.scope_quotas.values() for ref in refs}
        self._default = snap.policy.defaults.user_quota

    def quota(self, quota_id: str) -> Quota:
        """The quota behind an id (users the policy does not list have the default user quota)."""
        return self._quotas.get(quota_id, self._default)

    def account(self, decision: Decision) -> str:
        """The account a decision belongs to: the project charged, else the user (``user:<name>``)."""
        project = decision.project
        account = self._project_accounts.get(project) if project else decision.account_path[0]
        if account is None:
            account = self._project_accounts[project] = f"project:{project}"
        return account

    def hold(self, decision: Decision) -> None:
        """A job the admission queue held instead of denying (its final decision comes later)."""
        self.held[self.account(decision)] += 1
        self.held_codes.update({str(v.code) for v in decision.violations})

    def waited(self, account: str, seconds: float) -> None:
        """A job of ``account`` started after waiting ``seconds`` since its submit."""
        waits = self.waits.get(account)
        if waits is None:
            waits = self.waits[account] = []
        waits.append(seconds)

    def record(self, decision: Decision, t: float) -> str:
        """Count one decision at trace time ``t``; return the account it belongs to."""
        account = self.account(decision)
        counts = self.accounts.get(account)
        if counts is None:
            counts = self.accounts[account] = [0, 0, 0.0, 0.0, 0.0]
        if decision.warnings:
            self.warnings.update(str(w.code) for w in decision.warnings)
        if decision.allow:
            self.allowed += 1
            counts[0] += 1
        else:
            self.denied += 1
            counts[1] += 1
            for violation in decision.violations:
                self.codes[str(violation.code)] += 1
                metric = _DRY.get(violation.code)
                if metric is not None:
                    self._ran_dry(violation.scope, metric, violation.available, t)
        bucket = int((t - self._first) / self._width)
        remaining = decision.remaining
        if bucket == self._current and self._sampled.issuperset(remaining):
            return account  # every quota of this decision already has its point in this slice: the usual case
        if bucket != self._current:
            self._current, self._sampled = bucket, set()
        seen = self._bucket
        for quota_id, balances in remaining.items():
            if seen.get(quota_id) != bucket:
                seen[quota_id] = bucket
                self._sampled.add(quota_id)
                self._sample(quota_id, balances, decision, t)
        return account

    def charged(self, account: str, amounts: Amounts) -> None:
        counts = self.accounts[account]
        counts[2] += amounts.cpu_hours
        counts[3] += amounts.gpu_hours
        counts[4] += amounts.cost

    def _sample(self, quota_id: str, balances: dict[str, float], decision: Decision, t: float) -> None:
        """A burn-down point: the balance before this job (after it, plus its estimate) per metered metric."""
        get = balances.get
        cpu, gpu, cost = get("cpu_hours"), get("gpu_hours"), get("cost")  # METERED, spelt out
        if cpu is None and gpu is None and cost is None:
            return
        est = decision.estimate
        point: list[float | None] = [
            self.clock.epoch + t,
            None if cpu is None else cpu + est.cpu_hours,
            None if gpu is None else gpu + est.gpu_hours,
            None if cost is None else cost + est.cost,
        ]
        self.burn.setdefault(quota_id, []).append(point)

    def _ran_dry(self, quota_id: str, metric: str, available: float | None, t: float) -> None:
        key = (quota_id, metric)
        current = self._open.get(key)
        if current is None or t >= current[0]:
            now = self.clock.at(t)
            window = self.quota(quota_id).window
            start, end = window_bounds(window, now)
            calendar = is_calendar(window)
            event: dict[str, Any] = {
                "quota": quota_id,
                "metric": metric,
                "window": describe(window),
                "window_start": start.isoformat() if calendar else None,
                "window_end": end.isoformat() if calendar else None,
                "date": now.isoformat(),
                "available": available,
                "denied_jobs": 0,
            }
            self.dry.append(event)
            current = self._open[key] = (self.clock.seconds(end) if calendar else math.inf, event)
        current[1]["denied_jobs"] += 1

    def to_dict(self) -> dict[str, Any]:
        accounts = {
            name: {
                "allowed": int(c[0]),
                "denied": int(c[1]),
                "charged": {"cpu_hours": c[2], "gpu_hours": c[3], "cost": c[4]},
            }
            for name, c in sorted(self.accounts.items())
        }
        burn = {}
        for quota_id, points in sorted(self.burn.items()):
            quota = self.quota(quota_id)
            burn[quota_id] = {
                "window": describe(quota.window),
                "limits": {m: getattr(quota, m) for m in METERED if getattr(quota, m) is not None},
                "points": points,
            }
        return {
            "decisions": self.allowed + self.denied,
            "allowed": self.allowed,
            "denied": self.denied,
            "denied_by_code": dict(self.codes.most_common()),
            "held": self.held.total(),
            "held_by_code": dict(self.held_codes.most_common()),
            "held_expired": self.expired,
            "warnings_by_code": dict(self.warnings.most_common()),
            "accounts": accounts,
            "budgets_ran_dry": self.dry,
            "burn_down": burn,
        }
