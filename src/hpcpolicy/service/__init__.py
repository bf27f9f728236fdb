"""The service layer: the one place that owns transactions, the clock and ids around the pure engine.

API routes, the CLI and scheduler adapters call these functions; none of them talks to the ledger or
the engine directly.
"""

from hpcpolicy.service.errors import Conflict, InvalidInput, NotFound, ServiceError
from hpcpolicy.service.governance import Governance, Outcome
from hpcpolicy.service.policy_store import PolicyStore

__all__ = ["Conflict", "Governance", "InvalidInput", "NotFound", "Outcome", "PolicyStore", "ServiceError"]
