"""``policy migrate``: only the apiVersion value changes; the result is checked to be the same policy at v2."""

from __future__ import annotations

import pytest

from hpcpolicy.policy import PolicyError, parse_policy
from hpcpolicy.policy.errors import dotted
from hpcpolicy.policy.migrate import migrate
from tests.builders import EXAMPLE_V1

V1 = EXAMPLE_V1.read_text(encoding="utf-8")  # the example as written for v1
assert V1.count("apiVersion: hpcpolicy/v1") == 1

SMALL = """\
# apiVersion: hpcpolicy/v1 in a comment stays as it is
apiVersion: {version}   # the header
metadata: {{name: small, description: &d "moved from apiVersion: hpcpolicy/v1"}}
clusters:
  c:
    scheduler: slurm
    partitions:
      cpu: &cpu {{nodes: {{count: 1, cpus: 4, memory_gb: 8}}}}
      cpu2: *cpu
"""


def changed_lines(a: str, b: str) -> list[tuple[str, str]]:
    return [(x, y) for x, y in zip(a.splitlines(), b.splitlines(), strict=True) if x != y]


def test_the_example_changes_in_its_header_line_only() -> None:
    result = migrate(V1, "policy.yaml")
    assert result.changed
    assert changed_lines(V1, result.text) == [("apiVersion: hpcpolicy/v1", "apiVersion: hpcpolicy/v2")]
    assert result.policy.policy.apiVersion == "hpcpolicy/v2"
    assert result.policy.policy.model_dump(exclude={"apiVersion"}) == parse_policy(V1).policy.model_dump(
        exclude={"apiVersion"}
    )


@pytest.mark.parametrize(
    ("written", "becomes"),
    [("hpcpolicy/v1", "hpcpolicy/v2"), ('"hpcpolicy/v1"', '"hpcpolicy/v2"'), ("'hpcpolicy/v1'", "'hpcpolicy/v2'")],
)
def test_comments_anchors_and_quotes_are_kept(written: str, becomes: str) -> None:
    text = SMALL.format(version=written)
    result = migrate(text)
    assert result.text == SMALL.format(version=becomes)  # the comment and the description keep their v1


def test_a_file_already_at_v2_is_left_as_it_is() -> None:
    text = SMALL.format(version="hpcpolicy/v2")
    result = migrate(text)
    assert not result.changed and result.text == text


def test_a_v1_file_using_v2_constructs_is_migrated() -> None:
    text = V1.replace("  walltime_hours: 1\n", "  walltime_hours: 1\n  timezone: Europe/Berlin\n")
    with pytest.raises(PolicyError):
        parse_policy(text)  # "is part of hpcpolicy/v2: write apiVersion: hpcpolicy/v2 (migrate does)"
    result = migrate(text)
    assert result.policy.policy.defaults.timezone == "Europe/Berlin"
    assert len(changed_lines(text, result.text)) == 1


def test_a_broken_file_is_not_migrated_and_its_errors_are_listed() -> None:
    text = V1.replace("max_gpus: 16, max_walltime_hours: 72", "max_gpus: -1, max_walltime_hours: 72")
    with pytest.raises(PolicyError) as caught:
        migrate(text, "policy.yaml")
    [issue] = caught.value.issues
    assert dotted(issue.path) == "clusters.helix.partitions.gpu.limits.max_gpus" and issue.line is not None


@pytest.mark.parametrize(
    "header",
    [
        'apiVersion: "hpcpolicy\\x2Fv1"',  # the same value, written with an escape
        "apiVersion: *version",  # an alias of the description below: rewriting it would change that
    ],
)
def test_a_version_it_cannot_rewrite_alone_is_refused(header: str) -> None:
    text = (
        f"{header}\n"
        "metadata: {name: small, description: &version hpcpolicy/v1}\n"
        "clusters: {c: {scheduler: slurm, partitions: {cpu: {nodes: {count: 1, cpus: 4, memory_gb: 8}}}}}\n"
    )
    if "*version" in header:  # an alias must follow its anchor in YAML: put the header last
        text = text.replace(f"{header}\n", "") + f"{header}\n"
    with pytest.raises(PolicyError) as caught:
        migrate(text, "p.yaml")
    [issue] = caught.value.issues
    assert dotted(issue.path) == "apiVersion" and "write hpcpolicy/v2 by hand" in issue.message
