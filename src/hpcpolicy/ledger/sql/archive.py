"""Archiving the audit log before an admin prunes it: verified JSON-lines segments with a manifest.

The service never deletes events. When the table grows too large, ``hpcpolicy audit archive --before
DATE`` writes the oldest part of the chain still in the database (the longest run of events, from the
first, whose time is before DATE) to ``events-<first>-<last>.jsonl`` with a manifest: the range, the hash
before and after it, the file's SHA-256 and a checkpoint signed over the last event (when a signing key
is set). Each line is one event's stored body (what its digest covers) with its ``seq``, ``prev_hash``
and ``hash``, so a segment verifies on its own, without the database. The segment is checked against
the database chain before it is written and re-read and checked after; only then may an admin delete
those rows (``DELETE FROM events WHERE seq <= last``). ``hpcpolicy audit verify --archive DIR`` then
checks the segments, and that the database chain takes up where the last one ends.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import func, select

from hpcpolicy.ledger.checkpoints import Checkpoint, Signer
from hpcpolicy.ledger.events import GENESIS, Tamper, digest, link, verify_stored
from hpcpolicy.ledger.sql.audit import first_sealed, hash_at, head
from hpcpolicy.ledger.sql.connect import read_only
from hpcpolicy.ledger.sql.cursors import cursors
from hpcpolicy.ledger.sql.ledger import SqlLedger, to_db
from hpcpolicy.ledger.sql.tables import events
from hpcpolicy.ledger.sql.verify import stored_rows


class ArchiveError(Exception):
    """A segment that cannot be written (the chain in the database is broken) or that does not verify."""


@dataclass(frozen=True, slots=True)
class Segment:
    first: int
    last: int
    prev_hash: str  # the hash of the event before ``first`` (GENESIS for the first segment)
    last_hash: str
    sha256: str  # of the .jsonl file
    checkpoint: Checkpoint | None

    @property
    def name(self) -> str:
        return f"events-{self.first:012d}-{self.last:012d}"

    def manifest(self) -> dict[str, Any]:
        checkpoint = self.checkpoint.to_dict() if self.checkpoint else None
        return {"first": self.first, "last": self.last, "prev_hash": self.prev_hash, "last_hash": self.last_hash,
                "sha256": self.sha256, "checkpoint": checkpoint}  # fmt: skip


def archive(
    ledger: SqlLedger, before: datetime, directory: Path, signer: Signer | None, now: datetime
) -> Segment | None:
    """Write the next segment (events not archived in ``directory`` yet, time before ``before``) and return
    it, or None when there is nothing to archive. Raises ArchiveError (nothing written) on a broken chain."""
    done = segments(directory)
    first = first_sealed(ledger)
    if first is None:
        return None
    start, prev_hash = first
    if done and done[-1].last >= start:
        start, prev_hash = done[-1].last + 1, done[-1].last_hash
    elif done and (done[-1].last + 1 != start or done[-1].last_hash != prev_hash):
        raise ArchiveError(f"the database chain starts at seq {start}, which does not follow {done[-1].name}")
    with read_only(ledger.engine) as conn:
        newer = conn.execute(select(func.min(events.c.seq)).where(events.c.seq >= start,
                                                                 events.c.time >= to_db(before))).scalar()  # fmt: skip
    last = int(newer) - 1 if newer is not None else head(ledger)
    if last < start:
        return None
    directory.mkdir(parents=True, exist_ok=True)
    lines, last_hash = _lines(ledger, start, last, prev_hash)
    body = b"".join(lines)
    checkpoint = signer.sign(last, last_hash, now) if signer else None
    segment = Segment(start, last, prev_hash, last_hash, hashlib.sha256(body).hexdigest(), checkpoint)
    _write(directory / f"{segment.name}.jsonl", body)
    _write(directory / f"{segment.name}.manifest.json", orjson.dumps(segment.manifest(), option=orjson.OPT_INDENT_2))
    problem = check_segment(directory, segment)
    if problem is not None:
        raise ArchiveError(f"{segment.name} does not verify after writing: {problem}")
    return segment


def prune_limit(ledger: SqlLedger, segment: Segment) -> tuple[int, dict[str, int]]:
    """(the highest ``seq`` an admin may delete after archiving ``segment``, the sinks that hold it back):
    the segment's last event, or less where a sink has not acknowledged that far (it would stop at the
    gap)."""
    behind = {sink: seq for sink, seq in cursors(ledger).items() if seq < segment.last}
    return min([segment.last, *behind.values()]), behind


def _lines(ledger: SqlLedger, start: int, last: int, prev_hash: str) -> tuple[list[bytes], str]:
    """The segment's lines, each event's stored body (what the chain vouches for) with its place in the
    chain, after the same walk ``hpcpolicy audit verify`` makes; ArchiveError if the chain is broken."""
    rows = list(stored_rows(ledger, start, last))
    found = verify_stored(rows, start, prev_hash)
    if found is None and (len(rows) != last - start + 1 or not rows):
        found = Tamper("deleted", start + len(rows), "events missing from the range")
    if found is not None:
        raise ArchiveError(f"the chain in the database is broken at seq {found.seq} ({found.kind}): "
                           "run hpcpolicy audit verify")  # fmt: skip
    lines = [orjson.dumps({"seq": r[0], "prev_hash": r[1], "hash": r[2], "body": r[10]}) + b"\n" for r in rows]
    return lines, str(rows[-1][2])


def segments(directory: Path) -> list[Segment]:
    """The segments in ``directory`` by their manifests, in order (none if the directory does not exist)."""
    found = []
    for path in sorted(directory.glob("events-*.manifest.json")) if directory.is_dir() else []:
        try:
            raw = orjson.loads(path.read_bytes())
            checkpoint = Checkpoint.from_dict(raw["checkpoint"], str(path)) if raw.get("checkpoint") else None
            found.append(Segment(int(raw["first"]), int(raw["last"]), str(raw["prev_hash"]), str(raw["last_hash"]),
                                 str(raw["sha256"]), checkpoint))  # fmt: skip
        except (OSError, orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise ArchiveError(f"{path}: not a segment manifest: {exc}") from None
    return found


def check_segment(directory: Path, segment: Segment) -> Tamper | None:
    """Re-read a segment and walk its chain: every line's body gives its hash, in order from ``prev_hash``
    to ``last_hash``, and the file is the one the manifest names."""
    path = directory / f"{segment.name}.jsonl"
    try:
        data = path.read_bytes()
    except OSError as exc:
        return Tamper("deleted", segment.first, f"{path}: {exc}")
    if hashlib.sha256(data).hexdigest() != segment.sha256:
        return Tamper("edited", segment.first, f"{path} is not the file its manifest describes (SHA-256 differs)")
    previous, expected = segment.prev_hash, segment.first
    for line in data.splitlines():
        row = orjson.loads(line)
        if row["seq"] != expected:
            return Tamper("deleted", expected, f"{path}: seq {expected} missing")
        if row["prev_hash"] != previous or link(previous, expected, digest(row["body"])) != row["hash"]:
            return Tamper("edited", expected, f"{path}: the event does not match its hash")
        previous, expected = row["hash"], expected + 1
    if expected != segment.last + 1 or previous != segment.last_hash:
        return Tamper("deleted", expected, f"{path} ends before seq {segment.last}")
    return None


def check_archive(ledger: SqlLedger, directory: Path) -> tuple[int, str | None]:
    """(events archived, the first problem): every segment verifies, each takes up where the one before
    ends (the first from the chain's start), and the database chain takes up where the last ends (or
    still holds its last event with the same hash, before an admin pruned)."""
    previous_last, previous_hash, count = 0, GENESIS, 0
    found = segments(directory)
    for segment in found:
        if segment.first != previous_last + 1 or segment.prev_hash != previous_hash:
            return count, f"{segment.name} does not follow seq {previous_last} of the archive"
        if (problem := check_segment(directory, segment)) is not None:
            return count, f"{segment.name}: {problem}"
        previous_last, previous_hash, count = segment.last, segment.last_hash, count + segment.last - segment.first + 1
    first = first_sealed(ledger)
    if not found or first is None:
        return count, None
    if first[0] > previous_last + 1 or (first[0] == previous_last + 1 and first[1] != previous_hash):
        where = f"the database chain (from seq {first[0]})"
        return count, f"{where} does not take up where the archive ends (seq {previous_last})"
    if first[0] <= previous_last and hash_at(ledger, previous_last) != previous_hash:
        return count, f"the database's event {previous_last} is not the archived one"
    return count, None


def archived_hashes(directory: Path) -> Iterator[tuple[int, str]]:
    """(seq, hash) of every archived event: what checkpoints older than the database's chain are held to."""
    for segment in segments(directory):
        for line in (directory / f"{segment.name}.jsonl").read_bytes().splitlines():
            row = orjson.loads(line)
            yield int(row["seq"]), str(row["hash"])


def _write(path: Path, data: bytes) -> None:
    """Write and fsync a new file under a temporary name, then rename it into place."""
    temporary = path.with_name(f".{path.name}.tmp")
    with temporary.open("wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    temporary.replace(path)
