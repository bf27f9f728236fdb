"""Duration and size parsing shared by the readers."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from hpcpolicy.adapters.traces.units import open_text, parse_duration, parse_size_gb


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("12767", 12767.0),  # Torque >= 5.1.2: plain seconds
        ("00:56", 56.0),  # MM:SS
        ("03:00.532", 180.532),  # sacct TotalCPU MM:SS.mmm
        ("19:23:4", 19 * 3600 + 23 * 60 + 4.0),  # a real Torque log drops the leading zero
        ("96:00:00", 96 * 3600.0),
        ("1-00:00:00", 86400.0),
        ("2-03:04:05", 2 * 86400 + 3 * 3600 + 4 * 60 + 5.0),
        ("1-12", 86400 + 12 * 3600.0),  # Slurm D-HH
        ("1-12:30", 86400 + 12 * 3600 + 30 * 60.0),  # Slurm D-HH:MM
    ],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "abc", "-00:00:01", "-18:15:24", "1:2:3:4", "x-01:00:00", "10:aa"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="bad duration"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("text", "gib"),
    [("8G", 8.0), ("5150M", 5150 / 1024), ("26820K", 26820 / 1024**2), ("4000mb", 4000 / 1024), ("1T", 1024.0)],
)
def test_parse_size(text: str, gib: float) -> None:
    assert parse_size_gb(text) == pytest.approx(gib)


def test_parse_size_default_unit_and_errors() -> None:
    assert parse_size_gb("2048") == pytest.approx(2.0)  # Slurm: bare numbers are MB
    assert parse_size_gb("1073741824", default_unit="b") == pytest.approx(1.0)
    for bad in ("8X", "lots", "-1G"):
        with pytest.raises(ValueError):
            parse_size_gb(bad)


def test_open_text_reads_gzip(tmp_path: Path) -> None:
    path = tmp_path / "t.swf.gz"
    with gzip.open(path, "wt") as handle:
        handle.write("; MaxProcs: 4\n")
    with open_text(path) as handle:
        assert handle.read() == "; MaxProcs: 4\n"
