"""PolicySync on one database: start-up load or seed, uploads, checks, refusals and database failures.

Checks are called directly here (the background thread polls only every 60 s in these tests), so each
step is deterministic; test_convergence.py covers the thread, Redis and polling.
"""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import text

from hpcpolicy.cluster import RevisionStore
from hpcpolicy.ledger.base import LedgerUnavailable
from hpcpolicy.ledger.sql.ledger import SqlLedger
from hpcpolicy.policy import PolicyError
from tests.cluster.conftest import Replicas, example_text

BAD = example_text().replace("max_gpus: 16, max_walltime_hours: 72", "max_gpus: -16, max_walltime_hours: 72")


def test_first_replica_seeds_its_policy_and_the_next_one_serves_it(replicas: Replicas, ledger: SqlLedger) -> None:
    a_store, _ = replicas.start()
    b_store, b = replicas.start(text=example_text("gpu_other"))  # its own file differs: the database wins
    latest = RevisionStore(ledger).latest()
    assert latest is not None and latest.author == "startup" and latest.text == example_text()
    assert b_store.current.text == a_store.current.text == example_text()
    assert b_store.current.loaded.version == a_store.current.loaded.version == latest.version
    status = b.status()
    assert status["revision"] == latest.id and status["last_reload_via"] == "start"
    assert status["redis"] == "disabled" and status["database"] == "ok" and status["running"]


def test_an_upload_is_stored_served_here_and_found_by_the_other(replicas: Replicas, ledger: SqlLedger) -> None:
    a_store, _ = replicas.start()
    b_store, b = replicas.start()
    active = a_store.replace(example_text("gpu_wizard"), source="upload by alice", author="alice")
    latest = RevisionStore(ledger).latest()
    assert latest is not None and latest.author == "alice" and latest.version == active.loaded.version
    assert a_store.current is active
    assert "gpu_wizard" not in b_store.current.text
    assert b.check() and "gpu_wizard" in b_store.current.text
    assert b_store.current.loaded.source == "upload by alice" and b.status()["revision"] == latest.id
    assert not b.check()  # nothing newer: nothing reloaded


def test_a_named_file_older_than_the_served_revision_is_said_plainly(
    replicas: Replicas, ledger: SqlLedger, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="hpcpolicy.cluster")
    revisions = RevisionStore(ledger)
    store, first = replicas.start(text=example_text("gpu_file"), file_given=True)  # seeds the file
    assert first.superseded_file is None
    file_revision = revisions.latest_id()
    upload = store.replace(example_text("gpu_wizard"), source="upload by alice", author="alice")
    uploaded = revisions.latest()
    assert uploaded is not None and uploaded.id != file_revision

    again, sync = replicas.start(text=example_text("gpu_file"), file_given=True)  # restart with the same file
    assert again.current.loaded.version == upload.loaded.version  # the newer upload keeps serving
    notice = sync.superseded_file
    assert notice is not None and (notice.file_revision, notice.served.id) == (file_revision, uploaded.id)
    assert str(notice).startswith(
        f"policy file replica.yaml is revision {file_revision}; serving revision {uploaded.id} "
        f"({upload.loaded.version}, uploaded by alice, {uploaded.created_at:%Y-%m-%d %H:%M} UTC), which is newer."
    )
    assert "upload it (PUT /v1/policy)" in str(notice)
    assert any(r.levelno == logging.WARNING and str(notice) == r.getMessage() for r in caplog.records)

    _, edited = replicas.start(text=example_text("gpu_edited"), file_given=True)  # a new file wins, silently
    _, same = replicas.start(text=example_text("gpu_edited"), file_given=True)  # the head itself: nothing to say
    _, unnamed = replicas.start(text=example_text("gpu_file"))  # no file named: nothing to compare
    assert edited.superseded_file is same.superseded_file is unnamed.superseded_file is None


def test_an_invalid_upload_is_refused_and_nothing_is_stored(replicas: Replicas, ledger: SqlLedger) -> None:
    store, sync = replicas.start()
    before, head = store.current, RevisionStore(ledger).latest_id()
    with pytest.raises(PolicyError):
        store.replace(BAD, author="alice")
    assert store.current is before and RevisionStore(ledger).latest_id() == head
    assert sync.status()["revision"] == head


def test_an_upload_the_database_refuses_changes_nothing(replicas: Replicas, ledger: SqlLedger) -> None:
    store, sync = replicas.start()
    before = store.current
    with _revisions_table_away(ledger), pytest.raises(LedgerUnavailable):
        store.replace(example_text("gpu_wizard"), author="alice")
    assert store.current is before and sync.status()["last_reload_via"] == "start"


def test_a_failed_check_is_reported_once_and_recovers(
    replicas: Replicas, ledger: SqlLedger, caplog: pytest.LogCaptureFixture
) -> None:
    a_store, _ = replicas.start()
    b_store, b = replicas.start()
    a_store.replace(example_text("gpu_wizard"), author="alice")
    caplog.set_level(logging.INFO, logger="hpcpolicy.cluster")
    with _revisions_table_away(ledger):
        assert not b.check() and not b.check()
        assert b.status()["database"].startswith("unavailable: ")
    assert "gpu_wizard" not in b_store.current.text  # still serving what it had
    assert b.check() and "gpu_wizard" in b_store.current.text and b.status()["database"] == "ok"
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and "cannot be read" in r.message]
    assert len(warnings) == 1 and any("readable again" in r.message for r in caplog.records)


def test_a_stored_revision_this_replica_cannot_load_is_skipped(replicas: Replicas, ledger: SqlLedger) -> None:
    store, sync = replicas.start()
    before = store.current
    bad = RevisionStore(ledger).append("broken@0", BAD, "written by a newer release", "bob")
    assert not sync.check() and store.current is before
    assert sync.status()["rejected_revision"] == bad.id
    assert not sync.check()  # not retried while it is the latest
    RevisionStore(ledger).append("fixed@0", example_text("gpu_wizard"), "upload by bob", "bob")
    assert sync.check() and "gpu_wizard" in store.current.text


def test_start_up_refuses_a_stored_revision_it_cannot_load(replicas: Replicas, ledger: SqlLedger) -> None:
    RevisionStore(ledger).append("broken@0", BAD, "upload by bob", "bob")
    with pytest.raises(PolicyError):
        replicas.start()


def test_stop_ends_the_thread(replicas: Replicas) -> None:
    _, sync = replicas.start()
    assert sync.status()["running"]
    sync.stop()
    assert not sync.status()["running"]
    sync.stop()  # twice is fine


class _revisions_table_away:
    """The revisions table renamed for a while: every query on it fails as on a broken database."""

    def __init__(self, ledger: SqlLedger):
        self.engine = ledger.engine

    def __enter__(self) -> None:
        self._rename("policy_revisions", "policy_revisions_away")

    def __exit__(self, *exc: object) -> None:
        self._rename("policy_revisions_away", "policy_revisions")

    def _rename(self, old: str, new: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(text(f"ALTER TABLE {old} RENAME TO {new}"))
