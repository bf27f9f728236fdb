"""Keeps a replica's :class:`PolicyStore` on the latest policy revision stored in the shared database.

Write path (``PUT /v1/policy`` → ``PolicyStore.replace`` → :meth:`PolicySync.commit`): the policy was
validated by the store; it is stored as a revision, installed here, then announced on Redis. Storing
comes first: if the database refuses, nothing changed anywhere, and a policy that serves on one replica
is always one the others can find.

Read path (:meth:`PolicySync.check`): compare the highest stored id with the installed one and load a
newer revision. The watcher thread (watch.py) calls it on every Redis nudge and every ``poll_seconds``.
Ids only go up: the comparison and the swap happen under one lock, so a check that read revision 7 can
never install it over revision 8 committed meanwhile by an upload on this replica.

A stored revision this replica cannot load (say an environment override it rejects) is logged once and
skipped; the replica keeps serving what it has and reports the revision in ``status()``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from hpcpolicy.cluster.broadcast import Broadcast, BroadcastUnavailable
from hpcpolicy.cluster.revisions import PolicyRevision, RevisionStore
from hpcpolicy.cluster.watch import Backoff, Watcher
from hpcpolicy.ledger.base import LedgerUnavailable
from hpcpolicy.policy import PolicyError
from hpcpolicy.service.policy_store import ActivePolicy, PolicyStore

log = logging.getLogger("hpcpolicy.cluster")

#: The author of revisions stored at start-up (a seed, or a named file never stored before).
STARTUP = "startup"


@dataclass(frozen=True, slots=True)
class FileSuperseded:
    """At start-up the named policy file was an older stored revision, and a newer one is served.

    An admin who restarts with the file expects the file; the database keeps the newest revision (an
    upload) on purpose, so ``serve`` says so plainly, with what to do either way.
    """

    source: str
    file_revision: int
    served: PolicyRevision

    def __str__(self) -> str:
        s = self.served
        origin = f"stored from {s.source} at start-up" if s.author == STARTUP else f"uploaded by {s.author or '?'}"
        return (
            f"policy file {self.source} is revision {self.file_revision}; serving revision {s.id} ({s.version}, "
            f"{origin}, {s.created_at:%Y-%m-%d %H:%M} UTC), which is newer. To serve the file, upload it "
            f"(PUT /v1/policy); to keep revision {s.id}, save GET /v1/policy over the file."
        )


class PolicySync:
    def __init__(
        self,
        store: PolicyStore,
        revisions: RevisionStore,
        broadcast: Broadcast | None = None,
        *,
        poll_seconds: float = 5.0,
        backoff: Backoff | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ):
        self._store = store
        self._revisions = revisions
        self._broadcast = broadcast
        self._poll = poll_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._watcher = Watcher(self.check, broadcast, poll_seconds, backoff)
        self._applied = 0
        self._rejected: int | None = None
        self._reloaded_at: datetime | None = None
        self._reloaded_via: str | None = None
        self._checked_at: datetime | None = None
        self._db_error: str | None = None
        self._publish_error: str | None = None
        #: Set by :meth:`start_up` when the named file is an older revision than the one served.
        self.superseded_file: FileSuperseded | None = None

    def start_up(self, author: str = STARTUP, *, file_given: bool = False) -> PolicyRevision:
        """Serve the latest stored revision, or store the store's current (file) policy as the first one.

        With ``file_given`` (the admin named a policy file), a file whose content was never stored becomes
        the newest revision: editing the file and restarting (or rolling out a new ConfigMap) takes effect,
        while a restart with an unchanged file keeps a policy uploaded since (and says so: ``superseded_file``,
        logged as a warning). Attaches itself to the store,
        so that ``replace`` commits through it. Raises LedgerUnavailable if the database cannot be read, and
        PolicyError if the stored revision is invalid on this replica.
        """
        latest = self._revisions.latest()
        current = self._store.current
        if latest is None:
            latest = self._revisions.seed(current.loaded.version, current.text, current.loaded.source, author)
        elif file_given:
            stored = self._revisions.newest_with(current.loaded.version)
            if stored is None:
                latest = self._revisions.append(current.loaded.version, current.text, current.loaded.source, author)
                log.info("policy file %s is new: stored as revision %d", current.loaded.source, latest.id)
            elif stored.id != latest.id:
                self.superseded_file = FileSuperseded(current.loaded.source, stored.id, latest)
                log.warning("%s", self.superseded_file)
        active = self._load(latest)
        with self._lock:
            self._install(latest.id, active, "start")
        self._checked_at = self._clock()
        self._store.distribution = self
        return latest

    def start(self) -> None:
        """Start the background thread (nudges and polling)."""
        self._watcher.start()

    def stop(self) -> None:
        """Stop the background thread and release the Redis connections; safe to call twice."""
        self._watcher.stop()
        if self._broadcast is not None:
            self._broadcast.close()

    def commit(self, active: ActivePolicy, author: str) -> None:
        """Store a validated policy as the newest revision, serve it here, nudge the other replicas."""
        revision = self._revisions.append(active.loaded.version, active.text, active.loaded.source, author)
        with self._lock:
            if revision.id > self._applied:
                self._install(revision.id, active, "upload")
        log.info("policy revision %d (%s) stored by %s", revision.id, active.loaded.version, author or "?")
        if self._broadcast is not None:
            self._publish(self._broadcast, revision.id)

    def check(self, via: str = "poll") -> bool:
        """Load the latest revision if it is newer than the one served; True if it was installed."""
        try:
            latest_id = self._revisions.latest_id()
            newer = latest_id is not None and latest_id > self._applied and latest_id != self._rejected
            revision = self._revisions.latest() if newer else None
        except LedgerUnavailable as exc:
            self._database_state(str(exc))
            return False
        self._database_state(None)
        self._checked_at = self._clock()
        if revision is None or revision.id <= self._applied:
            return False
        try:
            active = self._load(revision)
        except PolicyError as exc:
            self._rejected = revision.id
            log.error("policy revision %d cannot be loaded here; keeping %s: %s", revision.id, self._version(), exc)
            return False
        with self._lock:
            if revision.id <= self._applied:
                return False
            self._install(revision.id, active, via)
        log.info("policy revision %d (%s) loaded after a %s", revision.id, active.loaded.version, via)
        return True

    def status(self) -> dict[str, Any]:
        """For ``/ready`` and operators: what is served, how it got here, and the state of each link."""
        return {
            "revision": self._applied,
            "version": self._version(),
            "last_reload_at": _iso(self._reloaded_at),
            "last_reload_via": self._reloaded_via,
            "last_check_at": _iso(self._checked_at),
            "database": "ok" if self._db_error is None else f"unavailable: {self._db_error}",
            "redis": self._watcher.redis,
            "redis_error": self._watcher.redis_error or self._publish_error,
            "rejected_revision": self._rejected,
            "poll_seconds": self._poll,
            "running": self._watcher.running,
        }

    def _load(self, revision: PolicyRevision) -> ActivePolicy:
        current = self._store.current
        if revision.text == current.text and revision.source == current.loaded.source:
            return current  # the policy this replica already parsed (its own seed or upload)
        return self._store.validate(revision.text, revision.source)

    def _install(self, revision_id: int, active: ActivePolicy, via: str) -> None:
        self._store.install(active)
        self._applied = revision_id
        self._reloaded_at = self._clock()
        self._reloaded_via = via

    def _version(self) -> str:
        return self._store.current.loaded.version

    def _publish(self, broadcast: Broadcast, revision_id: int) -> None:
        try:
            broadcast.publish(revision_id)
        except BroadcastUnavailable as exc:
            if self._publish_error is None:
                log.warning(
                    "policy broadcast failed (%s); other replicas will find revision %d by polling", exc, revision_id
                )
            self._publish_error = str(exc)
            return
        self._publish_error = None

    def _database_state(self, error: str | None) -> None:
        if error is not None and self._db_error is None:
            log.warning(
                "policy revisions cannot be read (%s); serving %s until the database is back", error, self._version()
            )
        elif error is None and self._db_error is not None:
            log.info("policy revisions readable again")
        self._db_error = error


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None
