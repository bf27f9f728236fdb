"""The dashboard's views, each read in one call and cut to what the viewer may see (:mod:`.viewer`): every
budget (the overview); one scope's quotas with their burn-down, open liens, top users and recent denials
(the scope page); the admission queue; the fair-share tree."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from hpcpolicy.engine import Amounts
from hpcpolicy.engine.fairshare import Row
from hpcpolicy.engine.standing import QuotaStanding, ranked
from hpcpolicy.engine.windows import describe, window_bounds
from hpcpolicy.ledger import DecisionRecord, Lien
from hpcpolicy.ledger.alerts import FiredAlert
from hpcpolicy.service.accounts import TOTALS_WINDOW
from hpcpolicy.service.explorer import DecisionExplorer, DecisionQuery
from hpcpolicy.service.governance import Governance
from hpcpolicy.service.queue_view import Standing
from hpcpolicy.service.viewer import Viewer

#: Denials listed on a scope page (the decision explorer has the rest).
RECENT_DENIALS = 10
RECENT_ALERTS = 10


def budgets(gov: Governance, viewer: Viewer, now: datetime) -> tuple[datetime, list[QuotaStanding]]:
    """Every budget ``viewer`` may see, most at risk first, and when they were read: all of the policy's for
    admins; a user's own (their quotas, the default for users the policy does not list, per-partition caps;
    read now) and their projects'. The policy's budgets come from the shared reading
    (:meth:`~hpcpolicy.service.standings.Standings.current`, at most ``HPCPOLICY_STANDINGS_MAX_AGE_SECONDS``
    old): reading 2,000 projects' takes longer than a page may."""
    reading = gov.standings.current()
    scopes = viewer.scopes(gov.ctx.policies.current.snapshot)
    if scopes is None:
        return reading.as_of, reading.standings
    found = reading.of({s for s in scopes if not s.startswith("user:")})
    if viewer.user is not None:
        seen = {s.quota_id for s in found}
        found += [s for s in gov.standings.of_scope(f"user:{viewer.user}", now) if s.quota_id not in seen]
    return reading.as_of, ranked(found)


@dataclass(frozen=True, slots=True)
class ScopeView:
    scope: str
    quotas: list[QuotaStanding]
    burn: dict[str, list[tuple[date, Amounts]]]  # per quota id: consumption per day of its window so far
    liens: list[Lien]
    top_users: list[tuple[str, Amounts]] | None  # None: not a project, team or org
    top_window: tuple[str, datetime, datetime]  # the window top users are summed over: label, start, end
    denials: list[DecisionRecord]
    alerts: list[FiredAlert]  # the scope's latest alerts sent (policy ``alerts``) with their delivery state


def scope_view(gov: Governance, viewer: Viewer, scope: str, now: datetime) -> ScopeView:
    """One scope's page. NotFound/InvalidInput as ``Accounts.quotas`` for a scope the policy lacks."""
    quotas = gov.standings.of_scope(scope, now)
    burn = {s.quota_id: gov.standings.burn_down(s.quota_id, now) for s in quotas}
    liens = gov.accounts.open_liens(scope, now)
    if quotas:
        window = (quotas[0].window, quotas[0].window_start, quotas[0].window_end)
    else:
        window = (describe(TOTALS_WINDOW), *window_bounds(TOTALS_WINDOW, now))
    kind = scope.partition(":")[0]
    top = gov.accounts.top_users(scope, window[1], window[2]) if kind in ("project", "team", "org") else None
    denied = DecisionExplorer(gov.ctx).search(DecisionQuery(scope=scope, allow=False), viewer, RECENT_DENIALS)
    sent = gov.alerts.fired([scope], RECENT_ALERTS)
    return ScopeView(scope, quotas, burn, liens, top, window, denied.records, sent)


def waiting(gov: Governance, viewer: Viewer, limit: int = 1000) -> list[Standing]:
    """The admission queue as ``GET /v1/queue`` shows it to this viewer: all of it to admins and gateways
    (with each request's position in its group), a user's own requests to them, a key's own to it."""
    if viewer.everything:
        return gov.queue.waiting(None, limit)
    if viewer.user is not None:
        return gov.queue.waiting(viewer.user, limit)
    return [s for s in gov.queue.waiting(None, limit) if s.entry.caller == viewer.principal]


def fair_tree(gov: Governance, viewer: Viewer, now: datetime) -> list[Row]:
    """The fair-share tree as ``GET /v1/fairshare`` shows it: whole to admins and gateways; a user's own
    associations and the accounts above them to a user; nothing to a key that speaks for no one."""
    rows = gov.fairshare.tree(now)
    if viewer.everything:
        return rows
    return gov.fairshare.visible(rows, viewer.user, viewer.groups) if viewer.user is not None else []
