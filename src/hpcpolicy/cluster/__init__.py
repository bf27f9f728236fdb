"""Policy distribution across stateless replicas (see docs/design/policy-distribution.md).

The shared database holds every policy revision and is the only source of truth; Redis, when configured,
only nudges replicas to look at it now rather than at their next poll.

- revisions.py: the ``policy_revisions`` table: append after the head, seed once, read the latest.
- broadcast.py: Redis pub/sub of "revision N exists"; every Redis failure is one exception type.
- watch.py: the background thread: wait for a nudge or the poll interval, retry Redis with backoff.
- sync.py: :class:`PolicySync`: start-up load or seed, commit an upload, check for a newer revision, status.
"""

from __future__ import annotations

from hpcpolicy.cluster.broadcast import BroadcastUnavailable, RedisBroadcast
from hpcpolicy.cluster.revisions import PolicyRevision, RevisionStore
from hpcpolicy.cluster.sync import FileSuperseded, PolicySync
from hpcpolicy.ledger.sql.ledger import SqlLedger
from hpcpolicy.service.policy_store import PolicyStore

__all__ = [
    "BroadcastUnavailable",
    "FileSuperseded",
    "PolicyRevision",
    "PolicySync",
    "RedisBroadcast",
    "RevisionStore",
    "start_policy_sync",
]


def start_policy_sync(
    store: PolicyStore,
    ledger: SqlLedger,
    *,
    redis_url: str | None = None,
    poll_seconds: float = 5.0,
    file_given: bool = False,
) -> PolicySync:
    """Serve the latest stored revision (or record the store's policy as the first, or as the newest if
    ``file_given`` and its content was never stored), then watch for newer ones.

    Raises LedgerUnavailable if the revisions cannot be read, PolicyError if the latest one is invalid here.
    Redis being down is not an error: the thread keeps retrying it and polls the database meanwhile.
    """
    broadcast = RedisBroadcast(redis_url) if redis_url else None
    sync = PolicySync(store, RevisionStore(ledger), broadcast, poll_seconds=poll_seconds)
    sync.start_up(file_given=file_given)
    sync.start()
    return sync
