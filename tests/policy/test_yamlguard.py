"""YAML shaped to exhaust the process is refused before it is composed, with the line and the limit.

The same shapes through every reader of someone else's YAML: the policy loader, the CLI's request,
usage and case files, the keys file, the simulator's mapping file.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from hpcpolicy.auth import KeysFileError
from hpcpolicy.auth.keysfile import load_keys_file
from hpcpolicy.cli.main import app
from hpcpolicy.policy import PolicyError, example_policy_path, parse_policy
from hpcpolicy.policy.yamlguard import MAX_ALIAS_NODES, MAX_DEPTH, YamlLimitError, check, safe_load
from hpcpolicy.simulate.identity import IdentityMap, MappingError
from hpcpolicy.simulate.yamlpos import locate

#: The "billion laughs": nine levels of nine aliases, 9⁹ strings from about 350 bytes.
BILLION_LAUGHS = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n' + "".join(
    f"{b}: &{b} [{','.join([f'*{a}'] * 9)}]\n" for a, b in zip("abcdefgh", "bcdefghi", strict=True)
)
RECURSIVE = "users:\n  alice: &a\n    projects: [*a]\n"
DEEP_LIST = "[" * 20_000 + "]" * 20_000
DEEP_MAPPING = "{a: " * 20_000 + "1" + "}" * 20_000


def refusal(text: str) -> YamlLimitError:
    with pytest.raises(YamlLimitError) as caught:
        check(text)
    return caught.value


def test_the_billion_laughs_is_refused_at_the_alias_that_crosses_the_budget() -> None:
    assert len(BILLION_LAUGHS) < 400
    started = time.perf_counter()
    error = refusal(BILLION_LAUGHS)
    assert time.perf_counter() - started < 1.0
    assert f"more than {MAX_ALIAS_NODES:,} nodes" in str(error.problem)
    assert error.problem_mark is not None and error.problem_mark.line == 4  # line 5: the first *d list


@pytest.mark.parametrize("text", [RECURSIVE, "&a [*a]", "&m {k: *m}", "&m {*m: 1}"])
def test_an_alias_to_its_own_enclosing_anchor_is_refused(text: str) -> None:
    assert "recursive" in str(refusal(text).problem)


@pytest.mark.parametrize("text", [DEEP_LIST, DEEP_MAPPING, "".join("  " * i + "- \n" for i in range(1000))])
def test_deep_nesting_is_refused_at_the_first_level_past_the_limit(text: str) -> None:
    error = refusal(text)
    assert f"deeper than {MAX_DEPTH} levels" in str(error.problem)


def test_nesting_up_to_the_limit_loads() -> None:
    assert safe_load("[" * MAX_DEPTH + "]" * MAX_DEPTH) is not None
    refusal("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1))


def test_an_alias_counts_the_depth_it_brings_in() -> None:
    half = MAX_DEPTH // 2 + 1
    text = f"a: &deep {'[' * half}{']' * half}\nb: {'[' * half}*deep{']' * half}\n"
    assert "nests the document deeper" in str(refusal(text).problem)


def test_a_policy_reusing_one_partition_block_in_fifty_partitions_loads() -> None:
    policy = example_policy_path().read_text(encoding="utf-8")
    farm = (
        "  farm:\n    scheduler: slurm\n    partitions:\n"
        "      p0: &part\n        nodes: {count: 4, cpus: 64, memory_gb: 512}\n"
        "        limits: {max_cpus: 64, max_walltime_hours: 24, default_walltime_hours: 1}\n"
        "        access: {roles: [gpu_user], deny_projects: [rnaseq-atlas]}\n"
        "        rates: {cpu_hour: 0.01, memory_gb_hour: 0.0005}\n"
    ) + "".join(f"      p{i}: {{<<: *part, fail_open: {str(i % 2 == 0).lower()}}}\n" for i in range(1, 50))
    loaded = parse_policy(policy.replace("  kube-ai:\n", farm + "  kube-ai:\n"))
    partitions = loaded.policy.clusters["farm"].partitions
    assert len(partitions) == 50 and partitions["p49"].nodes.cpus == 64 and partitions["p48"].fail_open


def test_anchors_do_not_leak_into_the_next_document_and_syntax_errors_stay_pyyaml_s() -> None:
    check("a: &x 1\n---\nb: *x\n")  # undefined in the second document: the composer's error, not ours
    with pytest.raises(yaml.YAMLError) as caught:
        check("a: [1, 2\n")
    assert not isinstance(caught.value, YamlLimitError)


def test_the_policy_loader_refuses_each_shape_with_its_line() -> None:
    policy = example_policy_path().read_text(encoding="utf-8")
    for text, words in ((BILLION_LAUGHS, "alias"), (policy + RECURSIVE.replace("users:\n", "extra:\n"), "recursive"),
                        (DEEP_LIST, "deeper"), (DEEP_MAPPING, "deeper")):  # fmt: skip
        with pytest.raises(PolicyError) as caught:
            parse_policy(text, source="up.yaml")
        [issue] = caught.value.issues
        assert issue.message.startswith("YAML refused: ") and words in issue.message and issue.line is not None


def test_the_keys_file_and_the_mapping_file_refuse_a_bomb(tmp_path: Path) -> None:
    keys = tmp_path / "keys.yaml"
    keys.write_text(BILLION_LAUGHS)
    with pytest.raises(KeysFileError, match="more than"):
        load_keys_file(keys)
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text(DEEP_MAPPING)
    with pytest.raises(MappingError, match=r"mapping.yaml:1: invalid YAML: nested deeper than"):
        IdentityMap.load(mapping)
    assert locate(RECURSIVE, ["users", "alice", "projects"]) == 1  # refused: no line to point at


@pytest.mark.parametrize(
    ("args", "name", "text"),
    [
        (["evaluate", "--request"], "request.yaml", BILLION_LAUGHS),
        (["evaluate", "--user", "alice", "--usage"], "usage.yaml", RECURSIVE),
        (["policy", "test"], "cases.yaml", DEEP_LIST),
        (["evaluate", "--request"], "request.json", DEEP_LIST),
    ],
)
def test_cli_documents_are_refused_with_file_and_line(tmp_path: Path, args: list[str], name: str, text: str) -> None:
    path = tmp_path / name
    path.write_text(text)
    started = time.perf_counter()
    result = CliRunner().invoke(app, [*args, str(path)])
    assert time.perf_counter() - started < 5.0  # refused, not expanded (a bomb takes minutes)
    assert result.exit_code == 1
    message = " ".join(result.stderr.split())
    assert str(path) in message and ("YAML refused" in message or "nested too deeply" in message)
