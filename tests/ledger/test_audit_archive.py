"""Archiving before pruning: segments are written only from a sound chain, verify on their own, carry a
signed checkpoint, and after an admin deletes the archived rows the database chain is still checked from
where the archive ends — on SQLite, PostgreSQL and MariaDB."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import orjson
import pytest
from sqlalchemy import text

from hpcpolicy.ledger.checkpoints import Signer, check_checkpoints, new_private_key_pem
from hpcpolicy.ledger.sql.archive import ArchiveError, archive, check_archive, check_segment, segments
from hpcpolicy.ledger.sql.audit import seal
from hpcpolicy.ledger.sql.ledger import SqlLedger
from hpcpolicy.ledger.sql.verify import verify
from tests.ledger.test_audit import history, sql  # noqa: F401  (sql: the three-backend fixture)
from tests.ledger.test_contract import T0


@pytest.fixture
def signer(tmp_path: Path) -> Signer:
    (tmp_path / "audit.pem").write_bytes(new_private_key_pem()[0])
    return Signer.from_file(tmp_path / "audit.pem")


def prune(ledger: SqlLedger, through: int) -> None:
    with ledger.engine.begin() as conn:
        conn.execute(text(f"DELETE FROM events WHERE seq <= {through}"))


def test_segments_archive_then_prune_and_the_chain_still_verifies(sql: SqlLedger, signer: Signer,  # noqa: F811
                                                                  tmp_path: Path) -> None:  # fmt: skip
    history(sql)  # events at T0, T0, T0+1min, T0+2h, ...
    seal(sql)
    out = tmp_path / "archive"
    first = archive(sql, T0 + timedelta(hours=1), out, signer, T0 + timedelta(days=3))
    assert first is not None and (first.first, first.last) == (1, 3)  # stops before the first event at T0+2h
    assert check_archive(sql, out) == (3, None)  # not pruned yet: the database still holds 1..3, the same
    prune(sql, 3)
    assert verify(sql) == (5, None) and check_archive(sql, out) == (3, None)
    second = archive(sql, T0 + timedelta(days=30), out, signer, T0 + timedelta(days=31))
    assert second is not None and (second.first, second.last, second.prev_hash) == (4, 8, first.last_hash)
    assert archive(sql, T0 + timedelta(days=30), out, signer, T0) is None  # nothing left before the date
    prune(sql, 8)
    assert check_archive(sql, out) == (8, None) and verify(sql) == (0, None)
    cps = [s.checkpoint for s in segments(out) if s.checkpoint is not None]
    assert check_checkpoints(cps, signer.public, {3: first.last_hash, 8: second.last_hash}.get) == (2, None)


def test_an_edited_segment_or_a_gap_after_it_is_named(sql: SqlLedger, tmp_path: Path) -> None:  # noqa: F811
    history(sql)
    seal(sql)
    out = tmp_path / "archive"
    segment = archive(sql, T0 + timedelta(hours=1), out, None, T0)
    assert segment is not None and segment.checkpoint is None
    prune(sql, 4)  # one event too many: the database no longer takes up where the archive ends
    assert "does not take up where the archive ends" in str(check_archive(sql, out)[1])
    path = out / f"{segment.name}.jsonl"
    lines = path.read_bytes().splitlines()
    row = orjson.loads(lines[1])
    row["body"] = row["body"].replace("alice", "mallory")
    path.write_bytes(b"\n".join([lines[0], orjson.dumps(row), lines[2]]) + b"\n")
    problem = check_segment(out, segment)
    assert problem is not None and problem.kind == "edited" and "SHA-256" in problem.detail


def test_a_broken_chain_is_not_archived(sql: SqlLedger, tmp_path: Path) -> None:  # noqa: F811
    history(sql)
    seal(sql)
    with sql.engine.begin() as conn:
        conn.execute(text("UPDATE events SET actor = 'user:mallory' WHERE seq = 2"))
    with pytest.raises(ArchiveError, match="broken at seq 2"):
        archive(sql, T0 + timedelta(days=30), tmp_path / "archive", None, T0)
    assert list((tmp_path / "archive").glob("*")) == []
