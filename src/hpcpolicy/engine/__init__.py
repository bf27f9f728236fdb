"""The pure decision engine: no I/O, no clock, no globals.

>>> decision = evaluate(request, snapshot, usage, now=now)

Everything here imports only the standard library, Pydantic models and :mod:`hpcpolicy.policy.schema`.
"""

from hpcpolicy.engine.codes import Code
from hpcpolicy.engine.decision import Decision, Estimate, RejectedRoute, Route, Violation
from hpcpolicy.engine.estimate import estimate, price, unit_rates
from hpcpolicy.engine.evaluate import effective_roles, evaluate
from hpcpolicy.engine.request import Request
from hpcpolicy.engine.rules.account import quotas_on_path, resolve_account
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
    "PolicySnapshot",
    "QuotaRef",
    "RejectedRoute",
    "Request",
    "Route",
    "UsageSnapshot",
    "Violation",
    "compile_policy",
    "effective_roles",
    "estimate",
    "evaluate",
    "price",
    "quotas_on_path",
    "resolve_account",
    "unit_rates",
    "window_bounds",
]
