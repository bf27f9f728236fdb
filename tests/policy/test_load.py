"""Loading a policy file: every problem names the file, the line and the dotted path, all at once."""

from __future__ import annotations

from pathlib import Path

import pytest

from hpcpolicy.policy import LoadedPolicy, PolicyError, PolicyIssue, example_policy_path, load_policy, parse_policy
from hpcpolicy.policy.errors import dotted
from hpcpolicy.policy.schema import FixedWindow

EXAMPLE = example_policy_path().read_text(encoding="utf-8")
REPO = Path(__file__).resolve().parents[2]


def line_of(text: str, needle: str, occurrence: int = 1) -> int:
    """1-based line of the ``occurrence``-th line containing ``needle``."""
    hits = [i + 1 for i, line in enumerate(text.splitlines()) if needle in line]
    return hits[occurrence - 1]


def edit(old: str, new: str, text: str = EXAMPLE) -> str:
    assert text.count(old) == 1, f"{old!r} must occur once in the example"
    return text.replace(old, new)


def issues(text: str) -> list[PolicyIssue]:
    with pytest.raises(PolicyError) as caught:
        parse_policy(text, source="policy.yaml")
    return caught.value.issues


def only_issue(text: str) -> PolicyIssue:
    [issue] = issues(text)
    assert issue.severity == "error"
    assert issue.source == "policy.yaml"
    return issue


# -- the example --------------------------------------------------------------------------------------


def test_the_packaged_example_loads_cleanly() -> None:
    loaded = load_policy(env={})
    assert isinstance(loaded, LoadedPolicy)
    assert loaded.warnings == ()
    assert loaded.source == "policy.yaml"
    assert loaded.version.startswith("biocenter@") and len(loaded.version.split("@")[1]) == 12
    assert set(loaded.policy.clusters) == {"helix", "kube-ai"}


def test_repo_examples_policy_is_the_packaged_file() -> None:
    at_root = REPO / "examples" / "policy.yaml"
    assert at_root.read_bytes() == example_policy_path().read_bytes()
    assert load_policy(at_root, env={}).version == load_policy(env={}).version


def test_version_is_a_content_hash_of_the_effective_policy() -> None:
    base = parse_policy(EXAMPLE).version
    reordered = edit("{cpu_hours: 120, gpu_hours: 24, max_jobs: 5, window: monthly}",
                     "{window: monthly, max_jobs: 5,\n                gpu_hours: 24, cpu_hours: 120}")
    assert parse_policy("# a comment\n" + reordered).version == base  # layout and key order are not content
    assert parse_policy(edit("cost_threshold: 2000", "cost_threshold: 2500")).version != base


# -- errors with file, line and path ------------------------------------------------------------------


def test_negative_cap_names_line_path_and_bound() -> None:
    text = edit("limits: {max_gpus: 16, max_walltime_hours: 72", "limits: {max_gpus: -1, max_walltime_hours: 72")
    issue = only_issue(text)
    assert dotted(issue.path) == "clusters.helix.partitions.gpu.limits.max_gpus"
    assert issue.line == line_of(text, "max_gpus: -1")
    assert "must be ≥ 0" in issue.message
    assert str(issue).startswith(f"policy.yaml:{issue.line} clusters.helix.partitions.gpu.limits.max_gpus: ")
    assert issue.to_dict()["path"] == "clusters.helix.partitions.gpu.limits.max_gpus"


def test_misspelt_key_is_reported_not_ignored() -> None:
    text = edit("max_walltime_hours: 168", "max_walltime_hour: 168")
    issue = only_issue(text)
    assert dotted(issue.path) == "clusters.helix.partitions.cpu.limits.max_walltime_hour"
    assert "unknown key" in issue.message
    assert issue.line == line_of(text, "max_walltime_hour: 168")


def test_duplicate_partition_is_an_error_at_the_second_occurrence() -> None:
    duplicate = "      cpu:\n        nodes: {count: 1, cpus: 1, memory_gb: 1}\n  kube-ai:"
    text = edit("  kube-ai:", duplicate)
    issue = only_issue(text)
    assert dotted(issue.path) == "clusters.helix.partitions.cpu"
    assert "duplicate" in issue.message
    assert issue.line == line_of(text, "      cpu:", occurrence=2)


def test_duplicate_top_level_key() -> None:
    text = EXAMPLE + "\nusers: {}\n"
    issue = only_issue(text)
    assert (dotted(issue.path), issue.line) == ("users", len(text.splitlines()))


def test_invalid_yaml_reports_a_line() -> None:
    text = edit("  walltime_hours: 1\n", "  walltime_hours: [1\n")
    issue = only_issue(text)
    assert issue.message.startswith("invalid YAML")
    assert issue.line is not None and line_of(text, "walltime_hours: [1") <= issue.line <= line_of(text, "guards:")


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n"])
def test_empty_file(text: str) -> None:
    issue = only_issue(text)
    assert "empty" in issue.message
    assert issue.line == 1


@pytest.mark.parametrize("text", ["- a\n- b\n", "just a string\n", "42\n"])
def test_document_that_is_not_a_mapping(text: str) -> None:
    issue = only_issue(text)
    assert dotted(issue.path) == "(document)"
    assert issue.line == 1


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("window: quarterly", "window: quartely"),
        ("window: quarterly", "window: 3"),
        ("window: {rolling_days: 30}", "window: {rolling_day: 30}"),
        ("window: {rolling_days: 30}", "window: {days: 30}"),
    ],
)
def test_a_window_typo_gives_one_clear_error(old: str, new: str) -> None:
    text = edit(old, new)
    issue = only_issue(text)
    assert dotted(issue.path).endswith("].window")  # no Pydantic union labels (period, rolling, fixed)
    assert issue.line == line_of(text, new)
    assert "monthly" in issue.message


@pytest.mark.parametrize(
    ("window", "path_end", "words"),
    [
        ("{start: 2027-01-01, end: 2026-07-01}", "quotas[2].window", "end must be after start"),
        ("{start: 2026-01-01}", "quotas[2].window.end", "is required"),
        ("{rolling_days: 0}", "quotas[2].window.rolling_days", "must be > 0"),
    ],
)
def test_window_value_errors(window: str, path_end: str, words: str) -> None:
    issue = only_issue(edit("{start: 2026-01-01, end: 2027-07-01}", window))
    assert dotted(issue.path) == f"orgs.biocenter.teams.ml-research.projects.protein-lm.{path_end}"
    assert words in issue.message


def test_fixed_window_may_mix_dates_and_aware_times() -> None:
    loaded = parse_policy(edit("end: 2027-07-01}", "end: 2027-07-01T00:00:00+02:00}"))
    window = loaded.policy.orgs["biocenter"].teams["ml-research"].projects["protein-lm"].quotas[2].window
    assert isinstance(window, FixedWindow)
    assert window.start.tzinfo is None and window.end.utcoffset() is not None


def test_missing_required_key_points_at_its_parent() -> None:
    text = edit("        nodes: {count: 8, cpus: 96, memory_gb: 2048}\n", "")
    issue = only_issue(text)
    assert dotted(issue.path) == "clusters.helix.partitions.highmem.nodes"
    assert issue.message == "is required"
    assert issue.line == line_of(text, "      highmem:")


def test_bad_name_as_a_mapping_key() -> None:
    text = edit("      highmem:", "      high mem:")
    issue = only_issue(text)
    assert dotted(issue.path) == "clusters.helix.partitions.high mem"
    assert issue.line == line_of(text, "high mem:")


@pytest.mark.parametrize("value", [".inf", ".nan"])
def test_rates_must_be_finite(value: str) -> None:
    # 0 GB × an infinite rate is NaN, and a NaN cost would slip past every cost quota and guard
    old = "rates: {cpu_hour: 0.01, memory_gb_hour: 0.0005}"
    text = edit(old, old.replace("0.0005", value))
    issue = only_issue(text)
    assert dotted(issue.path) == "clusters.helix.partitions.cpu.rates.memory_gb_hour"
    assert issue.line == line_of(text, f"memory_gb_hour: {value}")


def test_several_errors_are_all_reported() -> None:
    text = edit("max_walltime_hours: 168", "max_walltime_hour: 168")
    text = edit("count: 8,", "count: -8,", text)
    text = edit("cpu_hour: 0.015", "cpu_hour: cheap", text)
    found = issues(text)
    assert {(dotted(i.path), i.line) for i in found} == {
        ("clusters.helix.partitions.cpu.limits.max_walltime_hour", line_of(text, "max_walltime_hour: 168")),
        ("clusters.helix.partitions.highmem.nodes.count", line_of(text, "count: -8")),
        ("clusters.kube-ai.partitions.inference-l4.rates.cpu_hour", line_of(text, "cpu_hour: cheap")),
    }
    assert "3 error(s)" in str(PolicyError(found))


def test_errors_carry_the_path_given_to_load_policy(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(edit("max_nodes: 16", "max_nodes: -2"), encoding="utf-8")
    with pytest.raises(PolicyError) as caught:
        load_policy(path, env={})
    [issue] = caught.value.issues
    assert issue.source == str(path)
    assert str(issue).startswith(f"{path}:{line_of(path.read_text(), 'max_nodes: -2')} ")


def test_unreadable_file_is_a_policy_error(tmp_path: Path) -> None:
    with pytest.raises(PolicyError) as caught:
        load_policy(tmp_path / "missing.yaml")
    [issue] = caught.value.issues
    assert "cannot read" in issue.message


def test_dotted_paths() -> None:
    assert dotted(("clusters", "hpc", "partitions", 0, "name")) == "clusters.hpc.partitions[0].name"
    assert dotted(()) == "(document)"
