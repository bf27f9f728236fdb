"""The change summary a policy revision's audit event carries."""

from __future__ import annotations

from hpcpolicy.policy.diff import MAX_NAMED, summarize
from tests.builders import PolicyBuilder


def test_first_revision_adds_every_section() -> None:
    text = PolicyBuilder().yaml()
    summary = summarize(None, text)
    assert summary["removed"] == [] and summary["changed"] == []
    assert "clusters" in summary["added"] and summary["lines_removed"] == 0
    assert summary["lines_added"] == len(text.splitlines())


def test_names_second_level_settings_added_removed_and_changed() -> None:
    head = "apiVersion: hpcpolicy/v1\npartitions:\n"
    before = head + "  cpu: {max_cpus: 8}\n  gpu: {max_gpus: 4}\ndefaults: {walltime: 1}\n"
    after = head + "  cpu: {max_cpus: 16}\n  big: {max_cpus: 64}\ndefaults: {walltime: 2}\n"
    summary = summarize(before, after)
    assert summary["added"] == ["partitions.big"]
    assert summary["removed"] == ["partitions.gpu"]
    assert summary["changed"] == ["defaults.walltime", "partitions.cpu"]
    assert (summary["lines_added"], summary["lines_removed"]) == (3, 3)


def test_a_comment_changes_lines_but_no_setting() -> None:
    text = "apiVersion: hpcpolicy/v1\npartitions: {cpu: {max_cpus: 8}}\n"
    summary = summarize(text, "# reviewed by the board\n" + text)
    assert (summary["lines_added"], summary["lines_removed"]) == (1, 0)
    assert summary["added"] == summary["removed"] == summary["changed"] == []


def test_a_scalar_section_changed_is_named_and_long_lists_are_cut() -> None:
    many = "".join(f"  p{i}: 1\n" for i in range(2 * MAX_NAMED))
    summary = summarize("a: 1\nq: {}\n", "a: 2\nq:\n" + many)
    assert summary["changed"][0] == "a" and len(summary["added"]) == MAX_NAMED
