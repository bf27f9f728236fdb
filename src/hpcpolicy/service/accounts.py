"""Balances per scope (``GET /v1/usage``), totals of a scope no quota bounds, and admin adjustments
(grants, refunds, deposits, debits)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from hpcpolicy.engine import Active, Amounts, QuotaRef, window_bounds
from hpcpolicy.engine.rules.path import member_refs, per_user_ref
from hpcpolicy.engine.windows import describe
from hpcpolicy.ledger import Adjustment, AdjustmentKind, Lien, ScopeBalance
from hpcpolicy.ledger.rules import lien_counts, split_scope
from hpcpolicy.policy.schema import Period
from hpcpolicy.service.context import Context
from hpcpolicy.service.errors import Conflict, InvalidInput, NotFound
from hpcpolicy.service.retry import retrying

METRICS = ("cpu_hours", "gpu_hours", "cost")
#: The period a scope without quotas is summed over: the default window of a quota.
TOTALS_WINDOW = Period.monthly


@dataclass(frozen=True, slots=True)
class ScopeTotals:
    """What a scope used, for one no quota bounds (a listed user without quotas, a project with none):
    charges and adjustments in the current :data:`TOTALS_WINDOW`, and what its open liens hold now."""

    scope: str
    window: str
    window_start: datetime
    window_end: datetime
    charged: Amounts
    reserved: Amounts
    active: Active


class Accounts:
    def __init__(self, ctx: Context):
        self.ctx = ctx

    def quotas(self, scope: str) -> tuple[QuotaRef, ...]:
        try:
            kind, name = split_scope(scope)
        except ValueError as exc:
            raise InvalidInput(str(exc), [("scope", str(exc))]) from None
        snap = self.ctx.policies.current.snapshot
        if kind == "user":  # their own quotas (or the default), and every partition's per-user quota
            return snap.user_quotas(name) + tuple(per_user_ref(p, name) for p in snap.partitions if p.spec.per_user)
        if kind == "member":
            project, _, user = name.partition("/user:")
            if project not in snap.project_parents:
                raise NotFound(f"project {project} is not in the policy")
            return member_refs(snap, project, user)
        if scope not in snap.scope_quotas:
            raise NotFound(f"{scope} is not in the policy")
        return snap.quotas_for(scope)

    def balances(self, scope: str, now: datetime | None = None) -> list[ScopeBalance]:
        """Limit, charged, reserved and available per metric of every quota on ``scope``, in its window."""
        quotas = self.quotas(scope)
        now = now or self.ctx.clock()
        out: list[ScopeBalance] = []
        with self.ctx.ledger.session() as tx:
            for ref in quotas:
                held, active = tx.reserved(ref, now)
                start, end = ref.bounds(now)
                settled = tx.settled(ref, start, end)
                window = ref.window_label
                for metric in METRICS:
                    limit = getattr(ref.quota, metric)
                    charged, reserved = getattr(settled, metric), getattr(held, metric)
                    available = None if limit is None else limit - charged - reserved
                    out.append(ScopeBalance(ref.id, metric, limit, charged, reserved, available, window, start, end))
                for metric, limit, count in (
                    ("jobs", ref.quota.max_jobs, active.jobs),
                    ("gpus", ref.quota.max_gpus, active.gpus),
                ):
                    if limit is not None:
                        out.append(ScopeBalance(ref.id, metric, limit, 0.0, count, limit - count, "now", now, now))
        return out

    def totals(self, scope: str, now: datetime | None = None) -> ScopeTotals:
        """Charged this month and reserved now on ``scope``, whether or not quotas bound it."""
        self.quotas(scope)  # the scope must exist
        now = now or self.ctx.clock()
        start, end = window_bounds(TOTALS_WINDOW, now)
        with self.ctx.ledger.session() as tx:
            charged = tx.settled(scope, start, end)
            held, active = tx.reserved(scope, now)
        return ScopeTotals(scope, describe(TOTALS_WINDOW), start, end, charged, held, active)

    def open_liens(self, scope: str, now: datetime | None = None, limit: int = 100) -> list[Lien]:
        """The liens counting on ``scope`` now (reserved and unexpired, or running), newest first."""
        self.quotas(scope)  # the scope must exist
        now = now or self.ctx.clock()
        with self.ctx.ledger.session() as tx:
            found = [lien for lien in tx.open_liens(scope) if lien_counts(lien.state, lien.expires_at, now)]
        return sorted(found, key=lambda lien: (lien.created_at, lien.id), reverse=True)[:limit]

    def top_users(self, scope: str, start: datetime, end: datetime, limit: int = 10) -> list[tuple[str, Amounts]]:
        """Who charged most to a project, team or org in ``[start, end)`` (by cost, then GPU-, then CPU-hours):
        one grouped query over the charges recorded on that scope. Adjustments belong to a scope, not a user,
        and are not counted here."""
        kind, _, name = scope.partition(":")
        if kind not in ("project", "team", "org"):
            raise InvalidInput(f"top users are listed for projects, teams and orgs, not {scope}")
        with self.ctx.ledger.session() as tx:
            rows = tx.charge_totals(("user_id",), start, end, where=((kind, name),))
        per_user = [(str(values[0]), amounts) for values, _, amounts in rows if values[0] is not None]
        ranked = sorted(per_user, key=lambda item: (-item[1].cost, -item[1].gpu_hours, -item[1].cpu_hours, item[0]))
        return ranked[:limit]

    def adjust(
        self,
        scope: str,  # a scope: counts for its unsliced quotas; or one quota's id (scope#name): that one only
        kind: AdjustmentKind,
        amounts: Amounts,
        reason: str,
        author: str,
        key: str | None = None,
    ) -> Adjustment:
        base, _, name = scope.partition("#")
        quotas = self.quotas(base)  # the scope must exist (any user may be adjusted)
        if name and not any(ref.id == scope for ref in quotas):
            ids = ", ".join(ref.id for ref in quotas) or "none"
            raise NotFound(f"{base} has no quota {name!r} (its quota ids: {ids})")
        if min(amounts.cpu_hours, amounts.gpu_hours, amounts.cost) < 0:
            raise InvalidInput("adjustment amounts must be ≥ 0; the kind gives the direction")
        if not reason.strip():
            raise InvalidInput("an adjustment needs a reason")
        adjustment = Adjustment(self.ctx.ids(), scope, kind, amounts, reason.strip(), author, self.ctx.clock(), key)
        def record() -> Adjustment:
            with self.ctx.ledger.session() as tx:
                if key is not None and (previous := tx.find_adjustment(key)) is not None:
                    if (previous.scope, previous.kind, previous.amounts) != (scope, kind, amounts):
                        raise Conflict("idempotency key already used for a different adjustment")
                    return previous
                tx.add_adjustment(adjustment)
            return adjustment

        return retrying(record)
