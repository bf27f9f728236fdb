"""Signed checkpoints: the sealer signs (seq, hash) every N events or minute; a chain that a database
admin rewrote consistently from some event on (every hash recomputed) passes the walk but not an exported
checkpoint; truncation and forged checkpoints are named too — on SQLite, PostgreSQL and MariaDB."""

from __future__ import annotations

from datetime import timedelta
from functools import partial
from pathlib import Path

import orjson
import pytest
from sqlalchemy import select, text, update

from hpcpolicy.ledger.checkpoints import Checkpoint, Signer, check_checkpoints, load_public_key, new_private_key_pem
from hpcpolicy.ledger.events import digest, link
from hpcpolicy.ledger.sql.audit import CheckpointPolicy, hash_at, seal, stored_checkpoints
from hpcpolicy.ledger.sql.ledger import SqlLedger
from hpcpolicy.ledger.sql.tables import events
from hpcpolicy.ledger.sql.verify import verify
from tests.ledger.test_audit import history, sql  # noqa: F401  (sql: the three-backend fixture)
from tests.ledger.test_contract import T0, lien


@pytest.fixture
def signer(tmp_path: Path) -> Signer:
    private, public = new_private_key_pem()
    (tmp_path / "audit.pem").write_bytes(private)
    (tmp_path / "audit.pem.pub").write_bytes(public)
    return Signer.from_file(tmp_path / "audit.pem")


def signing(ledger: SqlLedger, signer: Signer, export: Path, every: int = 3) -> SqlLedger:
    ledger.checkpoints = CheckpointPolicy(signer, every, timedelta(minutes=1), export)
    return ledger


def exported(path: Path) -> list[Checkpoint]:
    return [Checkpoint.from_dict(orjson.loads(line), "test") for line in path.read_text().splitlines()]


def test_the_sealer_signs_checkpoints_every_n_events_and_exports_them(sql: SqlLedger, signer: Signer,  # noqa: F811
                                                                      tmp_path: Path) -> None:  # fmt: skip
    export = tmp_path / "checkpoints.jsonl"
    signing(sql, signer, export)
    history(sql)  # 8 events
    assert seal(sql, batch=2, now=T0) == 2  # the first sealing signs: nothing was signed before
    assert seal(sql, batch=2, now=T0) == 2  # 2 events since the checkpoint at 2: not due
    assert seal(sql, batch=4, now=T0) == 4  # 6 since: due
    assert [cp.seq for cp in stored_checkpoints(sql)] == [2, 8] == [cp.seq for cp in exported(export)]
    with sql.session() as tx:
        tx.add_lien(lien("l9"))
    assert seal(sql, now=T0 + timedelta(seconds=30)) == 1  # one event, 30 s: not due
    assert seal(sql, now=T0 + timedelta(minutes=2)) == 0  # a minute on: the event sealed since is signed
    with sql.session() as tx:
        tx.add_lien(lien("l10"))
    assert seal(sql, now=T0 + timedelta(minutes=2)) == 1  # just signed: not due
    assert seal(sql, now=T0 + timedelta(minutes=3)) == 0  # due again
    assert seal(sql, now=T0 + timedelta(minutes=5)) == 0  # nothing sealed since: nothing to sign
    assert [cp.seq for cp in stored_checkpoints(sql)] == [2, 8, 9, 10]
    assert check_checkpoints(exported(export), signer.public, partial(hash_at, sql)) == (4, None)


def _rewrite_from(ledger: SqlLedger, seq: int) -> None:
    """What an admin with a script does: change the ``seq``-th event's data and recompute every digest and
    hash after it, so the chain is consistent again."""
    with ledger.engine.begin() as conn:
        rows = conn.execute(select(events.c.id, events.c.seq, events.c.body, events.c.digest, events.c.prev_hash)
                            .where(events.c.seq >= seq).order_by(events.c.seq)).all()  # fmt: skip
        previous = rows[0].prev_hash
        for row in rows:
            body = row.body.replace('"cpu_hours":8', '"cpu_hours":1') if row.seq == seq else row.body
            new_digest = digest(body) if row.seq == seq else row.digest
            new_hash = link(previous, row.seq, new_digest)
            conn.execute(update(events).where(events.c.id == row.id)
                         .values(body=body, digest=new_digest, prev_hash=previous, hash=new_hash))  # fmt: skip
            previous = new_hash


def sealed_history(ledger: SqlLedger, signer: Signer, export: Path) -> list[Checkpoint]:
    """The eight events of ``history``, sealed with one checkpoint at the end; the exported checkpoints."""
    signing(ledger, signer, export, every=8)
    history(ledger)
    seal(ledger, now=T0)
    return exported(export)


def test_a_rewritten_chain_passes_the_walk_but_not_the_exported_checkpoint(sql: SqlLedger, signer: Signer,  # noqa: F811
                                                                           tmp_path: Path) -> None:  # fmt: skip
    export = tmp_path / "checkpoints.jsonl"
    sealed_history(sql, signer, export)
    _rewrite_from(sql, 5)  # the charge of 8 CPU-hours becomes 1
    assert verify(sql) == (8, None)  # the walk alone cannot tell
    count, problem = check_checkpoints(exported(export), signer.public, partial(hash_at, sql))
    assert count == 0 and problem is not None and problem.seq == 8 and "rewritten" in problem.detail


def test_a_truncated_chain_and_a_forged_checkpoint_are_named(sql: SqlLedger, signer: Signer,  # noqa: F811
                                                             tmp_path: Path) -> None:  # fmt: skip
    good = sealed_history(sql, signer, tmp_path / "checkpoints.jsonl")
    forged = [Checkpoint(cp.seq, "f" * 64, cp.time, cp.key_id, cp.signature) for cp in good]
    assert "signature does not verify" in str(check_checkpoints(forged, signer.public, partial(hash_at, sql))[1])
    with sql.engine.begin() as conn:
        conn.execute(text("DELETE FROM events WHERE seq >= 7"))  # the tail and its checkpoint's event
    assert verify(sql) == (6, None)  # a shorter chain is still a chain
    problem = check_checkpoints(good, signer.public, partial(hash_at, sql))[1]
    assert problem is not None and "deleted" in problem.detail


def test_another_key_is_refused_and_public_keys_load_from_either_half(signer: Signer, tmp_path: Path) -> None:
    other_private, _ = new_private_key_pem()
    (tmp_path / "other.pem").write_bytes(other_private)
    other = Signer.from_file(tmp_path / "other.pem")
    cp = other.sign(1, "a" * 64, T0)
    problem = check_checkpoints([cp], signer.public, lambda _: "a" * 64)[1]
    assert problem is not None and "signed by key" in problem.detail
    assert load_public_key(tmp_path / "audit.pem.pub") == load_public_key(tmp_path / "audit.pem") == signer.public
    assert check_checkpoints([cp], load_public_key(tmp_path / "other.pem"), lambda _: "a" * 64) == (1, None)


ZERO = {"seq": 0, "hash": "a", "time": "2026-01-01T00:00:00Z", "key_id": "k", "signature": "00"}


@pytest.mark.parametrize("raw", [[], ZERO, {"seq": 1}, {"seq": True, "hash": "a", "time": "x"}])
def test_a_malformed_exported_checkpoint_is_an_error_naming_its_line(raw: object) -> None:
    with pytest.raises(ValueError, match=r"checkpoints\.jsonl:3"):
        Checkpoint.from_dict(raw, "checkpoints.jsonl:3")
