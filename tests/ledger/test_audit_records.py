"""Policy revisions and API keys are in the audit log too: a revision's event names who stored it and
what changed; a key created or revoked is recorded as the local user who did it, and a key change whose
event cannot be recorded is undone (on SQLite, PostgreSQL and MariaDB)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from hpcpolicy.auth import load_keys_file
from hpcpolicy.cluster.revisions import RevisionStore
from hpcpolicy.ledger.base import LedgerUnavailable
from hpcpolicy.ledger.events import KEY_CREATED, KEY_REVOKED, POLICY_REVISED
from hpcpolicy.ledger.sql.audit import seal, sealed_events
from hpcpolicy.ledger.sql.ledger import SqlLedger
from hpcpolicy.ledger.sql.verify import verify
from hpcpolicy.service.keys import create_recorded, revoke_recorded
from tests.ledger.conftest import sqlite_ledger
from tests.ledger.test_audit import sql  # noqa: F401  (the three-backend fixture)

BEFORE = "apiVersion: hpcpolicy/v1\npartitions:\n  cpu: {max_cpus: 8}\n"
AFTER = "apiVersion: hpcpolicy/v1\npartitions:\n  cpu: {max_cpus: 16}\n  gpu: {max_gpus: 4}\n"


def test_each_policy_revision_records_who_and_what_changed(sql: SqlLedger) -> None:  # noqa: F811
    store = RevisionStore(sql)
    first = store.seed("p@1", BEFORE, "policy.yaml", "startup")
    second = store.append("p@2", AFTER, "upload by user:alice", "user:alice")
    seal(sql)
    revised = [e for e in sealed_events(sql) if e.type == POLICY_REVISED]
    assert [e.subject for e in revised] == [f"policy:{first.id}", f"policy:{second.id}"]
    latest = revised[1]
    assert latest.actor == "user:alice" and latest.scopes == ("policy",)
    assert latest.data["version"] == "p@2" and latest.data["previous_id"] == first.id
    assert latest.data["changes"] == {"lines_added": 2, "lines_removed": 1, "added": ["partitions.gpu"],
                                      "removed": [], "changed": ["partitions.cpu"]}  # fmt: skip
    assert revised[0].data["changes"]["added"] == ["apiVersion", "partitions"]
    assert verify(sql) == (2, None)


def test_keys_created_and_revoked_are_recorded_without_secrets(sql: SqlLedger, tmp_path: Path) -> None:  # noqa: F811
    path = tmp_path / "keys.yaml"
    key, record = create_recorded(path, sql, "local:root", "gateway", ["decide", "admin"], may_assert_identity=True)
    assert revoke_recorded(path, sql, "local:root", "gateway") == [record]
    seal(sql)
    created, revoked = list(sealed_events(sql))
    assert (created.type, revoked.type) == (KEY_CREATED, KEY_REVOKED)
    assert created.subject == revoked.subject == f"key:{record.key_id}" and created.actor == "local:root"
    assert created.data == {"key_id": record.key_id, "name": "gateway", "scopes": ["admin", "decide"],
                            "may_assert_identity": True}  # fmt: skip
    stored = str(list(sealed_events(sql)))
    assert key not in stored and record.hash not in stored


def test_a_key_change_whose_event_fails_is_undone(tmp_path: Path) -> None:
    ledger = SqlLedger(sqlite_ledger(tmp_path).engine, audit=True)
    path = tmp_path / "keys.yaml"
    _, kept = create_recorded(path, ledger, "local:root", "kept", ["decide"], may_assert_identity=False)
    with ledger.engine.begin() as conn:  # the event table is gone: every event insert fails
        conn.execute(text("ALTER TABLE events RENAME TO events_gone"))
    with pytest.raises(LedgerUnavailable):
        create_recorded(path, ledger, "local:root", "new", ["decide"], may_assert_identity=False)
    assert [r.name for r in load_keys_file(path)] == ["kept"]
    with pytest.raises(LedgerUnavailable):
        revoke_recorded(path, ledger, "local:root", kept.key_id)
    assert load_keys_file(path) == [kept]


def test_without_the_audit_log_keys_change_with_no_event(tmp_path: Path) -> None:
    ledger = sqlite_ledger(tmp_path)
    path = tmp_path / "keys.yaml"
    _, record = create_recorded(path, ledger, "local:root", "gw", ["decide"], may_assert_identity=False)
    assert revoke_recorded(path, ledger, "local:root", record.key_id) == [record]
    assert list(sealed_events(ledger)) == [] and seal(ledger) == 0
