"""The policy's ``fairshare`` section (v2): defaults, shares keyed by scope, hostile values refused."""

from __future__ import annotations

import pytest

from hpcpolicy.policy import PolicyError, example_policy_path, parse_policy

EXAMPLE = example_policy_path().read_text(encoding="utf-8")


def with_fairshare(section: str, text: str = EXAMPLE) -> str:
    return text.replace("groups:\n", f"fairshare:\n{section}groups:\n", 1)


def test_defaults_and_a_section_that_loads() -> None:
    assert parse_policy(EXAMPLE).policy.fairshare.half_life_days == 7
    fs = parse_policy(with_fairshare("  half_life_days: 14\n  shares: {team:genomics: 3, project:p/user:u: 2}\n"))
    assert fs.policy.fairshare.half_life_days == 14 and fs.policy.fairshare.shares["project:p/user:u"] == 2


@pytest.mark.parametrize("section", [
    "  half_life_days: 0\n", "  half_life_days: .nan\n", "  half_life_days: .inf\n", "  half_life_days: 1e308\n",
    "  shares: {team:genomics: -1}\n", "  shares: {galaxy:x: 1}\n", "  shares: {'team:a\\0b': 1}\n",
    "  usage: {gpu_hours: 1e400}\n", "  usage: {tres: 1}\n", "  shares: {team:x: 1e16}\n",
])  # fmt: skip
def test_hostile_values_are_refused_at_their_line(section: str) -> None:
    with pytest.raises(PolicyError) as caught:
        parse_policy(with_fairshare(section))
    assert "fairshare" in str(caught.value)


def test_a_v1_file_may_not_set_it() -> None:
    v1 = with_fairshare("  half_life_days: 3\n", EXAMPLE.replace("hpcpolicy/v2", "hpcpolicy/v1"))
    with pytest.raises(PolicyError, match="fairshare"):
        parse_policy(v1)
