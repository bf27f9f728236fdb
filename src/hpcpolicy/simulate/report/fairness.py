"""Per-account fairness figures of a governed run: who waited, who was held, and share against usage.

Before turning the fair-share queue on, an admin asks two things per account: how long its work waited
(mean and 95th percentile, time held by the admission queue included) and whether it got what it was
promised. "Promised" is the account's **share**: its normalised shares multiplied down the tree from the
root (a project with half its team's shares in a team with a third of the org's gets a sixth), the
fraction of the machine Fair Tree steers it towards. "Got" is its **usage**: what it was charged over the
whole replay, weighted as fair share weighs it (``fairshare.usage``, undecayed), over everyone's. The
**factor** is the fair-share factor at the end of the replay (for a project, that of its best-placed user:
Fair Tree ranks a project's users together), known only for runs that ranked by fair share (the
``fairshare`` scheduler, or queued admission); other runs show share and usage alone.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from hpcpolicy.engine import Amounts
from hpcpolicy.engine.fairshare import Row
from hpcpolicy.engine.fairusage import fair_tree, weighted

from ..metrics import percentile
from ..run import RunResult


def fairness_data(result: RunResult, epoch: float) -> dict[str, Any] | None:
    """The figures per account (the tally's accounts), or None for a run without a policy."""
    tally, snap = result.tally, result.variant.snapshot
    if tally is None or snap is None:
        return None
    accounts = sorted(set(tally.accounts) | set(tally.held))
    rows = result.fairshare
    if rows is None:  # shares only: a tree without usage, with the users that charge no project
        rows = fair_tree(snap, {(None, a.removeprefix("user:")): 0.0 for a in accounts if a.startswith("user:")})
    shares, factors = _shares(rows), _factors(rows)
    weights = snap.policy.fairshare.usage
    used = {name: weighted(Amounts(*counts[2:5]), weights) for name, counts in tally.accounts.items()}
    total = sum(used.values())
    figures = {}
    for name in accounts:
        waits = sorted(tally.waits.get(name, ()))
        figures[name] = {
            "jobs_run": len(waits),
            "mean_wait_s": sum(waits) / len(waits) if waits else 0.0,
            "p95_wait_s": percentile(waits, 95.0) if waits else 0.0,
            "held": tally.held.get(name, 0),
            "share": shares.get(name),
            "usage": used.get(name, 0.0) / total if total > 0 else 0.0,
            "fairshare_factor": factors.get(name) if result.fairshare is not None else None,
        }
    at = result.fairshare_at
    return {
        "factors_at": None if at is None else datetime.fromtimestamp(epoch + at, UTC).isoformat(),
        "accounts": figures,
    }


def _shares(rows: Iterable[Row]) -> dict[str, float]:
    """Each association's share of the whole tree: normalised shares multiplied from the root down."""
    above = [1.0]  # above[d]: the share of the current ancestor at depth d − 1 (1 for the root)
    shares = {}
    for row in rows:
        del above[row.depth + 1 :]
        share = above[row.depth] * row.norm_shares
        above.append(share)
        shares[row.scope] = share
    return shares


def _factors(rows: Iterable[Row]) -> dict[str, float]:
    """Each account's factor: a user without a project by its own row, a project by its best user's."""
    found: dict[str, float] = {}
    for row in rows:
        if row.factor is None:
            continue
        account = row.scope.partition("/")[0]  # project:p/user:u → project:p; user:u stays
        found[account] = max(found.get(account, 0.0), row.factor)
    return found
