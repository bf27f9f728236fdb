"""A file replaced atomically: old or new content, never a part; the old file's mode kept."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hpcpolicy.atomicfile import write_atomically


def test_a_new_file_is_0644_and_an_existing_one_keeps_its_mode(tmp_path: Path) -> None:
    target = tmp_path / "job_submit.lua"
    write_atomically(target, "one")
    assert target.read_text() == "one" and target.stat().st_mode & 0o777 == 0o644
    target.chmod(0o640)
    write_atomically(target, "two")
    assert target.read_text() == "two" and target.stat().st_mode & 0o777 == 0o640
    write_atomically(target, "three", 0o600)
    assert target.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["job_submit.lua"]


def test_a_failure_before_the_rename_leaves_the_old_file_and_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "job_submit.lua"
    target.write_text("live")

    def broken(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken)
    with pytest.raises(OSError, match="No space"):
        write_atomically(target, "new")
    assert target.read_text() == "live" and [p.name for p in tmp_path.iterdir()] == ["job_submit.lua"]


def test_a_missing_directory_is_an_os_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        write_atomically(tmp_path / "absent" / "f", "x")
