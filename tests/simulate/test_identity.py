"""Identity mapping: the documented defaults, every kind of entry, and errors that name file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from hpcpolicy.simulate.identity import Identity, IdentityMap, MappingError

MAPPING = """\
users:
  119: alice
  120: {user: bob, project: variant-calling, roles: [gpu_user]}
  121: {roles: [pi]}
  122: {user: carol, project: null}
groups:
  76: wgs-cohort
  77: {project: protein-lm, roles: [dgx_access]}
  78: {roles: [gpu_user]}
partitions:
  "4": helix/gpu
  batch: cpu
default_user: "trace-{id}"
"""


def load(tmp_path: Path, text: str) -> IdentityMap:
    path = tmp_path / "mapping.yaml"
    path.write_text(text, encoding="utf-8")
    return IdentityMap.load(path)


def test_documented_defaults() -> None:
    identities = IdentityMap()
    assert identities.resolve("12", "3", None, None) == Identity("u12", "g3", (), None, None)
    assert identities.resolve(None, None, None, None) == Identity("unknown", None, (), None, None)


def test_mapping_entries(tmp_path: Path) -> None:
    identities = load(tmp_path, MAPPING)
    assert identities.resolve("119", "76", None, None) == Identity("alice", "wgs-cohort", (), None, None)
    # the user's own project wins over the group's; roles of both entries are merged
    assert identities.resolve("120", "77", None, None) == Identity(
        "bob", "variant-calling", ("dgx_access", "gpu_user"), None, None
    )
    assert identities.resolve("121", "99", None, None) == Identity("trace-121", "g99", ("pi",), None, None)
    assert identities.resolve("122", "76", None, None).project is None  # an explicit null: no project
    assert identities.resolve("5", "78", None, None) == Identity("trace-5", "g78", ("gpu_user",), None, None)
    # partitions: the trace's partition first, then its queue; "cluster/partition" names the cluster
    assert route(identities, None, "4") == ("helix", "gpu")
    assert route(identities, "batch", "4") == (None, "cpu")
    assert route(identities, "other", None) == (None, None)


def route(identities: IdentityMap, partition: str | None, queue: str | None) -> tuple[str | None, str | None]:
    found = identities.resolve("5", None, partition, queue)
    return found.cluster, found.partition


def test_default_project_can_be_turned_off(tmp_path: Path) -> None:
    assert load(tmp_path, "default_project: null\n").resolve("1", "2", None, None).project is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("users:\n  1: alice\n  2: {user: bob, roles: [ok, 3]}\n", ":3: users.2.roles.1: Input should be a valid"),
        ("users:\n  1: {usr: x}\n", ":2: users.1.usr: Extra inputs are not permitted"),
        ("groups: {}\ndefault_user: 'u{name}'\n", ":2: default_user: Value error, may only use the placeholder {id}"),
        ("users:\n  1: [alice\n", ":3: invalid YAML"),
        ("- alice\n", ":1: the mapping file must be a YAML mapping"),
        ("cpus_per_node: 0\n", ":1: cpus_per_node: Input should be greater than or equal to 1"),
    ],
)
def test_errors_name_file_and_line(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(MappingError) as caught:
        load(tmp_path, text)
    where = str(tmp_path / "mapping.yaml")
    assert any(problem.startswith(where) and expected in problem for problem in caught.value.problems)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(MappingError, match="cannot read the mapping file"):
        IdentityMap.load(tmp_path / "absent.yaml")
