"""The in-memory ledger (tests, the simulator, single-threaded tools): :class:`MemoryLedger`."""

from hpcpolicy.ledger.memory.counting import Resolved
from hpcpolicy.ledger.memory.ledger import ChargeSpec, MemoryLedger

__all__ = ["ChargeSpec", "MemoryLedger", "Resolved"]
