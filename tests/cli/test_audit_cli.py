"""``hpcpolicy audit seal|verify`` on the embedded SQLite ledger: decisions made through the service leave
events that seal into a chain; an edited event makes ``verify`` exit 1 naming it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from pydantic import ValidationError
from sqlalchemy import select, text, update
from typer.testing import CliRunner

from hpcpolicy.cli.main import app
from hpcpolicy.cli.service_cmds import governance_from, settings_from
from hpcpolicy.engine import Request
from hpcpolicy.ledger.events import digest, link
from hpcpolicy.ledger.sql.ledger import SqlLedger
from hpcpolicy.ledger.sql.rows import event_from_row
from hpcpolicy.ledger.sql.tables import events
from hpcpolicy.settings import ServiceSettings
from tests.cli.conftest import clean_service_env
from tests.ledger.test_contract import lien


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    clean_service_env(monkeypatch)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HPCPOLICY_AUDIT_LOG", "true")
    yield tmp_path / "state"


def run(*args: str) -> tuple[int, str, str]:
    done = CliRunner().invoke(app, list(args))
    return done.exit_code, done.stdout, done.stderr


def test_decisions_seal_into_a_chain_that_verify_checks(data_dir: Path) -> None:
    gov = governance_from(settings_from(data_dir=data_dir), distribute=False)
    for cpus in (1, 2, 3):
        outcome = gov.decide(Request(user_id="alice", partition="cpu", cpus=cpus), "key:gw", reserve=True)
        assert outcome.decision["allow"]
    assert run("audit", "verify", "--data-dir", str(data_dir))[1].strip() == (
        "ok: 6 event(s) from seq 1 chain; 0 not sealed yet"
    )  # a decision and its lien each, sealed as they were written (SQLite)
    older = SqlLedger(gov.ctx.ledger.engine, audit=True, seal_on_write=False)  # type: ignore[attr-defined]
    with older.session() as tx:  # as an earlier version wrote: left for the sealer
        tx.add_lien(lien("l-older"))
    assert run("audit", "verify", "--data-dir", str(data_dir))[1].strip() == (
        "ok: 6 event(s) from seq 1 chain; 1 not sealed yet"
    )
    assert run("audit", "seal", "--data-dir", str(data_dir)) == (0, "sealed 1 event(s)\n", "")
    code, out, _ = run("audit", "verify", "--data-dir", str(data_dir))
    assert code == 0 and "ok: 7 event(s) from seq 1 chain; 0 not sealed yet" in out
    with gov.ctx.ledger.engine.begin() as conn:  # type: ignore[attr-defined]
        conn.execute(text("UPDATE events SET actor = 'user:mallory' WHERE seq = 3"))
    code, _, err = run("audit", "verify", "--data-dir", str(data_dir))
    assert code == 1 and "audit chain broken after 2 good event(s): event 3: edited" in " ".join(err.split())


def test_keys_created_and_revoked_on_the_command_line_are_audited(data_dir: Path) -> None:
    code, key, _ = run("keys", "create", "gateway", "--data-dir", str(data_dir))
    assert code == 0 and key.strip()
    assert run("keys", "revoke", "gateway", "--data-dir", str(data_dir))[0] == 0
    assert run("audit", "seal", "--data-dir", str(data_dir)) == (0, "sealed 0 event(s)\n", "")  # sealed on write
    gov = governance_from(settings_from(data_dir=data_dir), distribute=False)
    kinds = [(e.type, e.actor.startswith("local:")) for e in gov.ctx.ledger.events(0, 10)]  # type: ignore[union-attr]
    assert kinds == [("hpcpolicy.key.created", True), ("hpcpolicy.key.revoked", True)]


def test_signed_checkpoints_exported_catch_a_rewritten_chain(data_dir: Path, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    key = tmp_path / "audit.pem"
    assert run("audit", "keygen", "--out", str(key)) == (0, f"wrote {key} and {key}.pub\n", "")
    assert (key.stat().st_mode & 0o777) == 0o600 and run("audit", "keygen", "--out", str(key))[0] == 1
    monkeypatch.setenv("HPCPOLICY_AUDIT_SIGNING_KEY_FILE", str(key))
    gov = governance_from(settings_from(data_dir=data_dir), distribute=False)
    for cpus in (1, 2):
        outcome = gov.decide(Request(user_id="alice", partition="cpu", cpus=cpus), "key:gw", reserve=True)
        assert outcome.decision["allow"]
    assert run("audit", "seal", "--data-dir", str(data_dir))[0] == 0  # the first sealing signs a checkpoint
    code, exported, _ = run("audit", "checkpoints", "--data-dir", str(data_dir))
    assert code == 0 and '"seq":4' in exported
    saved = tmp_path / "checkpoints.jsonl"
    saved.write_text(exported)
    code, out, _ = run("audit", "verify", "--data-dir", str(data_dir), "--checkpoints", str(saved),
                       "--public-key", f"{key}.pub")  # fmt: skip
    assert code == 0 and "ok: 1 stored checkpoint(s)" in out and f"ok: 1 {saved} checkpoint(s)" in out
    with gov.ctx.ledger.engine.begin() as conn:  # type: ignore[attr-defined]
        # An admin rewrites the last event consistently (its actor, body, digest and hash) and deletes the
        # checkpoints stored beside it: the walk passes, the exported copy does not.
        row = conn.execute(select(events).where(events.c.seq == 4)).mappings().one()
        forged = replace(event_from_row(row), actor="user:mallory")
        new_digest = digest(forged.body())
        conn.execute(update(events).where(events.c.seq == 4).values(
            actor="user:mallory", body=forged.body(), digest=new_digest,
            hash=link(row["prev_hash"], 4, new_digest)))  # fmt: skip
        conn.execute(text("DELETE FROM audit_checkpoints"))
    assert run("audit", "verify", "--data-dir", str(data_dir), "--public-key", f"{key}.pub")[0] == 0
    code, _, err = run("audit", "verify", "--data-dir", str(data_dir), "--checkpoints", str(saved))
    assert code == 1 and f"{saved} checkpoints: checkpoint at seq 4: rewritten" in " ".join(err.split())
    saved.write_text(exported.replace('"seq":4', '"seq":"4"'))
    code, _, err = run("audit", "verify", "--data-dir", str(data_dir), "--checkpoints", str(saved))
    assert code == 1 and "checkpoints.jsonl:1: seq must be a positive integer" in " ".join(err.split())


def test_an_unreadable_signing_key_is_a_clear_error(data_dir: Path, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    bad = tmp_path / "not-a-key.pem"
    bad.write_text("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
    monkeypatch.setenv("HPCPOLICY_AUDIT_SIGNING_KEY_FILE", str(bad))
    code, _, err = run("audit", "seal", "--data-dir", str(data_dir))
    assert code != 0 and f"audit signing key (HPCPOLICY_AUDIT_SIGNING_KEY_FILE): {bad}: cannot read" in " ".join(
        err.split()
    )


@pytest.mark.parametrize(
    ("name", "value"),
    [("audit_checkpoint_events", 0), ("audit_checkpoint_events", 10**400), ("audit_checkpoint_seconds", float("nan")),
     ("audit_checkpoint_seconds", float("inf")), ("audit_checkpoint_seconds", -1), ("audit_checkpoint_seconds", 1e308),
     ("audit_checkpoint_file", "a\x00b"), ("audit_signing_key_file", "\x00")],
)  # fmt: skip
def test_hostile_checkpoint_settings_are_refused(name: str, value: object) -> None:
    with pytest.raises(ValidationError):
        ServiceSettings(**{name: value})


def test_the_audit_log_is_on_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    clean_service_env(monkeypatch)
    settings = ServiceSettings()
    assert settings.audit_log and settings.audit_signing_key_file is None and settings.audit_checkpoint_events == 1000
