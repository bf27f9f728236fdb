"""The pure decision engine: no I/O, no clock, no globals (save one bounded memo of pure results, below).

>>> decision = evaluate(request, snapshot, usage, now=now)

or, for a request decided many times under one snapshot, ``plan = prepare(request, snapshot)`` once and
``decide(plan, usage, now=now)`` each time (the same decision). The one module-level state is the
``lru_cache`` of calendar window bounds in :mod:`hpcpolicy.engine.windows`: pure results of integers
(and zone names).

Everything here imports only the standard library, Pydantic models and :mod:`hpcpolicy.policy.schema`.
"""

from hpcpolicy.engine.codes import Code
from hpcpolicy.engine.decision import Decision, Estimate, RejectedRoute, Route, Violation
from hpcpolicy.engine.estimate import estimate, price, unit_rates
from hpcpolicy.engine.evaluate import Plan, decide, decide_balances, effective_roles, evaluate, prepare
from hpcpolicy.engine.request import Request
from hpcpolicy.engine.rules.account import resolve_account
from hpcpolicy.engine.rules.path import quotas_on_path
from hpcpolicy.engine.snapshot import PartitionRef, PolicySnapshot, QuotaRef, compile_policy
from hpcpolicy.engine.usage import EMPTY_USAGE, Active, Amounts, UsageSnapshot
from hpcpolicy.engine.windows import window_bounds

__all__ = [
    "EMPTY_USAGE",
    "Active",
    "Amounts",
    "Code",
    "Decision",
    "Estimate",
    "PartitionRef",
    "Plan",
    "PolicySnapshot",
    "QuotaRef",
    "RejectedRoute",
    "Request",
    "Route",
    "UsageSnapshot",
    "Violation",
    "compile_policy",
    "decide",
    "decide_balances",
    "effective_roles",
    "estimate",
    "evaluate",
    "prepare",
    "price",
    "quotas_on_path",
    "resolve_account",
    "unit_rates",
    "window_bounds",
]
