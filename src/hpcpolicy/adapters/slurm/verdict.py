"""A decision as Slurm shows it: lines for ``sbatch: error: ...`` and the ``ESLURM_*`` code to return.

The lines are built here rather than in Lua so that the plugin stays a thin pipe and the wording is
tested in pytest. Every violated rule gets a line with its code, message, scope, limit, requested and
available; a routing failure adds each rejected partition's reasons.

Slurm 22.05's job_submit/lua exports only a few error codes to Lua (``ESLURM_ACCESS_DENIED``,
``ESLURM_ACCOUNTING_POLICY``, ``ESLURM_INVALID_ACCOUNT``, ``ESLURM_INVALID_TIME_LIMIT``,
``ESLURM_INVALID_NODE_COUNT``, ...); the code chosen is the one fitting the first violation, and the
plugin falls back to ``ESLURM_ACCESS_DENIED`` for a name its Slurm does not export.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from hpcpolicy.engine.decision import num

ACCESS_DENIED = "ESLURM_ACCESS_DENIED"
ACCOUNTING_POLICY = "ESLURM_ACCOUNTING_POLICY"
INVALID_ACCOUNT = "ESLURM_INVALID_ACCOUNT"

_BY_CODE = {
    "limit.max_walltime": "ESLURM_INVALID_TIME_LIMIT",
    "limit.max_nodes": "ESLURM_INVALID_NODE_COUNT",
}
_BY_AREA = {
    "project": INVALID_ACCOUNT,
    "quota": ACCOUNTING_POLICY,
    "concurrency": ACCOUNTING_POLICY,
    "limit": ACCOUNTING_POLICY,
    "queue": ACCOUNTING_POLICY,  # queue.full: too many jobs already held
}


def slurm_error(violations: Sequence[Mapping[str, Any]]) -> str:
    """The ``ESLURM_*`` name for a denial: by the first violation's code (access problems by default)."""
    if not violations:
        return ACCESS_DENIED
    code = str(violations[0]["code"])
    return _BY_CODE.get(code) or _BY_AREA.get(code.split(".", 1)[0], ACCESS_DENIED)


def rejection_lines(decision: Mapping[str, Any], decision_id: str) -> list[str]:
    """What the user reads under ``sbatch: error:``, one rule per line."""
    violations = decision.get("violations") or []
    lines = [
        f"hpcpolicy: job rejected by policy {decision.get('policy_version', '?')}: "
        f"{len(violations)} rule(s) failed (decision {decision_id})"
    ]
    lines += [f"  {violation_line(v)}" for v in violations]
    for rejected in decision.get("rejected_routes") or []:
        where = f"{rejected['cluster']}/{rejected['partition']}"
        lines += [f"    on {where}: {violation_line(v)}" for v in rejected["violations"]]
    return lines


def held_lines(decision: Mapping[str, Any], decision_id: str, position: int | None) -> list[str]:
    """What the user reads when the job is accepted held: why it waits, and that it needs nothing from them."""
    where = f", position {position}" if position is not None else ""
    lines = [
        f"hpcpolicy: job held: it waits for a concurrency slot{where}; the policy service releases it when one "
        f"frees, in fair-share order (decision {decision_id})"
    ]
    return lines + [f"  {violation_line(v)}" for v in decision.get("violations") or []]


def violation_line(v: Mapping[str, Any]) -> str:
    numbers = ", ".join(f"{key} {_value(v.get(key))}" for key in ("limit", "requested", "available"))
    return f"{v['code']}: {v['message']} [{v['scope']}; {numbers}]"


def _value(value: object) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    return num(float(value))
