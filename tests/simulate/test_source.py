"""Reading a trace for replay: format detection, submit order, repeated ids, what cannot be replayed."""

from __future__ import annotations

from pathlib import Path

import pytest

from hpcpolicy.simulate.source import TraceFormatError, detect_format, read_trace
from tests.adapters.paths import DATA

ROW = "{id} {submit} -1 {run} 2 -1 -1 2 100 -1 1 5 9 -1 -1 -1 -1 -1"


@pytest.mark.parametrize(
    ("name", "expected"),
    [("sdsc_first60.swf", "swf"), ("apel_excerpt.log", "pbs"), ("sacct_header.out", "sacct")],
)
def test_detect_format(name: str, expected: str) -> None:
    assert detect_format(DATA / name) == expected


def test_an_unrecognisable_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "t.txt").write_text("\n\nhello\n", encoding="utf-8")
    with pytest.raises(TraceFormatError, match="cannot tell the format"):
        detect_format(tmp_path / "t.txt")
    with pytest.raises(TraceFormatError, match="no such file"):
        read_trace(tmp_path / "absent.swf")


def test_jobs_are_sorted_ids_made_unique_and_unreplayable_records_counted(tmp_path: Path) -> None:
    rows = [("1", 50, 10), ("2", 10, 10), ("1", 30, 10), ("3", 40, -1)]
    path = tmp_path / "t.swf"
    path.write_text("; MaxProcs: 4\n" + "\n".join(ROW.format(id=i, submit=s, run=r) for i, s, r in rows) + "\n")
    trace = read_trace(path)
    assert [job.sim.id for job in trace.jobs] == ["2", "1@4", "1"]  # the repeat is renamed after its line
    assert trace.reordered and trace.renamed == 1 and trace.capacity == 4
    assert dict(trace.dropped) == {"runtime unknown (the job never ran)": 1}
    assert trace.dropped_examples == [f"{path}:5: job 3: runtime unknown (the job never ran)"]
    first = trace.jobs[0]
    assert (first.user, first.group, first.line) == ("5", "9", 3)
