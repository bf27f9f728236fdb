"""Creating and revoking API keys with an audit event for each (issue 11: "key create/revoke").

Keys live in the keys file, not in the ledger database, so the file write and the event cannot share one
transaction. The event's transaction is opened first and the file written inside it; if the transaction
then fails to commit, the file change is undone (the created key revoked, the revoked keys restored). So a
key change without its event is never left behind, and an event without its change only if undoing the
file change fails too (reported as an error).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

from hpcpolicy.auth.apikeys import ApiKeyRecord
from hpcpolicy.auth.keysfile import create_key, restore_keys, revoke_key
from hpcpolicy.ledger.events import Event, key_event
from hpcpolicy.ledger.sql.ledger import SqlLedger


def create_recorded(
    path: Path, ledger: SqlLedger | None, actor: str, name: str, scopes: Iterable[str], *, may_assert_identity: bool
) -> tuple[str, ApiKeyRecord]:
    """:func:`create_key`, recorded as ``hpcpolicy.key.created`` when ``ledger`` keeps an audit log."""
    if ledger is None or not ledger.audit:
        return create_key(path, name, scopes, may_assert_identity=may_assert_identity)
    created: ApiKeyRecord | None = None
    try:
        with ledger.session() as session:
            key, created = create_key(path, name, scopes, may_assert_identity=may_assert_identity)
            session.record(_event(True, created, actor))
    except Exception:
        if created is not None:
            revoke_key(path, created.key_id)
        raise
    return key, created


def revoke_recorded(path: Path, ledger: SqlLedger | None, actor: str, key_id_or_name: str) -> list[ApiKeyRecord]:
    """:func:`revoke_key`, each removed key recorded as ``hpcpolicy.key.revoked``."""
    if ledger is None or not ledger.audit:
        return revoke_key(path, key_id_or_name)
    removed: list[ApiKeyRecord] = []
    try:
        with ledger.session() as session:
            removed = revoke_key(path, key_id_or_name)
            for record in removed:
                session.record(_event(False, record, actor))
    except Exception:
        if removed:
            restore_keys(path, removed)
        raise
    return removed


def _event(created: bool, record: ApiKeyRecord, actor: str) -> Event:
    return key_event(created, record.key_id, record.name, record.scopes, record.may_assert_identity,
                     datetime.now(UTC), actor)  # fmt: skip
