"""``hpcpolicy audit tail|export``: sealed events as CloudEvents JSON lines, filtered and paged."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import text

from hpcpolicy.cli.service_cmds import governance_from, settings_from
from hpcpolicy.engine import Request
from tests.cli.test_audit_cli import data_dir, run  # noqa: F401  (data_dir: the audited data directory fixture)


def _decisions(data_dir: Path, users: tuple[str, ...]) -> None:  # noqa: F811
    gov = governance_from(settings_from(data_dir=data_dir), distribute=False)
    for who in users:
        assert gov.decide(Request(user_id=who, partition="cpu", cpus=1), "key:gw", reserve=True).decision["allow"]
    assert run("audit", "seal", "--data-dir", str(data_dir))[0] == 0


def lines(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines()]


def test_tail_prints_the_last_events_oldest_first_and_filters(data_dir: Path) -> None:  # noqa: F811
    _decisions(data_dir, ("alice", "bob", "alice"))  # six events: a decision and a lien each
    code, out, _ = run("audit", "tail", "-n", "3", "--data-dir", str(data_dir))
    assert code == 0 and [e["hpcpolicyseq"] for e in lines(out)] == [4, 5, 6]
    liens = ("--type", "hpcpolicy.lien.reserved")
    code, out, _ = run("audit", "tail", "--user", "bob", *liens, "--data-dir", str(data_dir))
    bobs = lines(out)
    assert code == 0 and len(bobs) == 1 and bobs[0]["data"]["user_id"] == "bob"  # type: ignore[index]
    assert bobs[0]["specversion"] == "1.0" and len(str(bobs[0]["hpcpolicyprevhash"])) == 64
    code, _, err = run("audit", "tail", "--type", "hpcpolicy.nope", "--data-dir", str(data_dir))
    assert code != 0 and "unknown event type hpcpolicy.nope" in err


def test_export_writes_every_event_in_a_range_to_a_file(data_dir: Path, tmp_path: Path) -> None:  # noqa: F811
    _decisions(data_dir, ("alice", "bob", "alice"))
    code, out, _ = run("audit", "export", "--after", "1", "--until", "4", "--data-dir", str(data_dir))
    assert code == 0 and [e["hpcpolicyseq"] for e in lines(out)] == [2, 3, 4]
    target = tmp_path / "audit.jsonl"
    code, out, _ = run("audit", "export", "--scope", "user:alice", "--out", str(target), "--data-dir", str(data_dir))
    exported = lines(target.read_text())
    assert code == 0 and out == "" and len(exported) == 4
    assert {e["data"]["user_id"] for e in exported} == {"alice"}  # type: ignore[index]
    code, _, err = run("audit", "export", "--out", str(tmp_path / "missing" / "x.jsonl"), "--data-dir", str(data_dir))
    assert code != 0 and "missing" in err


def test_archive_then_prune_then_verify_with_the_archive(data_dir: Path, tmp_path: Path) -> None:  # noqa: F811
    _decisions(data_dir, ("alice", "bob"))
    archive = tmp_path / "archive"
    code, out, _ = run("audit", "archive", "--before", "2999-01-01", "--out", str(archive), "--data-dir", str(data_dir))
    assert code == 0 and "archived seq 1..4" in out and "DELETE FROM events WHERE seq <= 4" in out
    code, out, _ = run("audit", "archive", "--before", "2999-01-01", "--out", str(archive), "--data-dir", str(data_dir))
    assert code == 0 and "nothing to archive" in out
    _decisions(data_dir, ("carol",))
    gov = governance_from(settings_from(data_dir=data_dir), distribute=False)
    with gov.ctx.ledger.engine.begin() as conn:  # type: ignore[attr-defined]
        conn.execute(text("DELETE FROM events WHERE seq <= 4"))
    code, out, err = run("audit", "verify", "--data-dir", str(data_dir))
    assert code == 0 and "ok: 2 event(s) from seq 5 chain" in out and "events 1..4 are not in the database" in err
    code, out, err = run("audit", "verify", "--archive", str(archive), "--data-dir", str(data_dir))
    assert code == 0 and "ok: 4 archived event(s)" in out and err == ""
    with gov.ctx.ledger.engine.begin() as conn:  # type: ignore[attr-defined]
        conn.execute(text("DELETE FROM events WHERE seq = 5"))
    code, _, err = run("audit", "verify", "--archive", str(archive), "--data-dir", str(data_dir))
    assert code == 1 and "does not take up where the archive ends" in " ".join(err.split())
    code, _, err = run("audit", "archive", "--before", "not-a-date", "--out", str(archive), "--data-dir", str(data_dir))
    assert code == 2 and "--before" in err and "Invalid value" in err


def test_archive_says_not_to_prune_past_what_a_sink_has_delivered(data_dir: Path, tmp_path: Path) -> None:  # noqa: F811
    _decisions(data_dir, ("alice", "bob"))
    gov = governance_from(settings_from(data_dir=data_dir), distribute=False)
    with gov.ctx.ledger.engine.begin() as conn:  # type: ignore[attr-defined]
        conn.execute(text("INSERT INTO audit_cursors (sink, seq, updated_at) VALUES ('nats', 2, '2026-12-01')"))
    archive = str(tmp_path / "archive")
    code, out, err = run("audit", "archive", "--before", "2999-01-01", "--out", archive, "--data-dir", str(data_dir))
    assert code == 0 and "archived seq 1..4" in out and "DELETE FROM events WHERE seq <= 2" in out
    assert "sink nats has delivered up to seq 2 only" in " ".join(err.split())


def test_fairshare_prints_the_tree_like_sshare(data_dir: Path) -> None:  # noqa: F811
    _decisions(data_dir, ("alice",))
    code, out, _ = run("fairshare", "--data-dir", str(data_dir))
    assert code == 0 and "project:wgs-cohort/user:alice" in out and "org:biocenter" in out
    code, out, _ = run("fairshare", "--json", "--data-dir", str(data_dir))
    rows = json.loads(out)
    alice = next(r for r in rows if r["scope"] == "project:wgs-cohort/user:alice")
    assert code == 0 and alice["factor"] == 1.0 and alice["level_fs"] is None  # reserved only: no usage yet


@pytest.mark.parametrize(("args", "said"), [
    (("audit", "tail", "--scope", "user:a\x01b"), "scope: not a usable identifier: it contains a control character"),
    (("audit", "export", "--user", "u" * 300), "user: not a usable identifier: it is longer than 191 characters"),
    (("audit", "tail", "--scope", "galaxy:x"), "events concern user:, project:, team: or org: scopes"),
    (("audit", "explain", "d" * 300), "decision id: not a usable identifier: it is longer than 191 characters"),
    (("audit", "explain", "d\x1bx"), "decision id: not a usable identifier: it contains a control character"),
])  # fmt: skip
def test_hostile_filters_and_ids_are_clear_errors(data_dir: Path, args: tuple[str, ...], said: str) -> None:  # noqa: F811
    code, out, err = run(*args, "--data-dir", str(data_dir))
    assert code == 1 and out == "" and said in " ".join(err.split())
