"""The policy's ``alerts`` section and ``contacts`` (v2): what loads, hostile values refused at their line,
cross-references linted with their path."""

from __future__ import annotations

import pytest

from hpcpolicy.policy import PolicyError, example_policy_path, parse_policy
from hpcpolicy.policy.errors import PolicyIssue, dotted

EXAMPLE = example_policy_path().read_text(encoding="utf-8")
RULE = "    - {name: budgets, scopes: ['project:*'], used: [0.5, 0.8, 0.95, 1.0], runs_dry_before_end: true}\n"


def with_alerts(section: str, text: str = EXAMPLE) -> str:
    return text.replace("groups:\n", f"alerts:\n{section}groups:\n", 1)


def with_contacts(contacts: str, text: str = EXAMPLE) -> str:
    return text.replace("  biocenter:\n", f"  biocenter:\n    contacts: {contacts}\n", 1)


def issues(text: str) -> list[PolicyIssue]:
    with pytest.raises(PolicyError) as caught:
        parse_policy(text, source="policy.yaml")
    return [i for i in caught.value.issues if i.severity == "error"]


def test_a_section_that_loads_and_its_defaults() -> None:
    assert parse_policy(EXAMPLE).policy.alerts.rules == []
    text = with_contacts("[pi@uni.example, ops+hpc@uni.example]", with_alerts(
        "  webhooks: [ops]\n  rules:\n" + RULE + "    - {name: stuck, stuck_liens: true, channels: [email, ops]}\n"
        "    - {name: spikes, denied_spike: {count: 20}, stuck_liens: {grace_hours: 0.5}}\n"))  # fmt: skip
    loaded = parse_policy(text)
    alerts = loaded.policy.alerts
    assert [r.name for r in alerts.rules] == ["budgets", "stuck", "spikes"] and loaded.warnings == ()
    assert alerts.rules[0].channels == ["email"] and alerts.rules[1].scopes == ["*"]
    assert alerts.rules[1].stuck is not None and alerts.rules[1].stuck.grace_hours == 1.0
    assert alerts.rules[2].stuck is not None and alerts.rules[2].stuck.grace_hours == 0.5
    assert alerts.rules[2].denied_spike is not None and alerts.rules[2].denied_spike.minutes == 15
    assert alerts.rules[0].stuck is None
    assert loaded.policy.orgs["biocenter"].contacts == ["pi@uni.example", "ops+hpc@uni.example"]


@pytest.mark.parametrize("rule", [
    "{name: r, used: [0]}", "{name: r, used: [-0.5]}", "{name: r, used: [.nan]}", "{name: r, used: [.inf]}",
    "{name: r, used: [1e308]}", "{name: r, used: [11]}", "{name: r, used: ['80%']}", "{name: r, used: [0.1e400]}",
    "{name: r}", "{name: \"r\\0x\"}", "{name: r, used: [0.5], scopes: ['galaxy:*']}",
    "{name: r, used: [0.5], scopes: [\"project:a\\nb\"]}", "{name: r, used: [0.5], scopes: []}",
    "{name: r, denied_spike: {count: 0}}", "{name: r, denied_spike: {count: 5, minutes: 1e9}}",
    "{name: r, denied_spike: {count: 5, minutes: .nan}}", "{name: r, stuck_liens: {grace_hours: -1}}",
    "{name: r, stuck_liens: {grace_hours: .inf}}", "{name: r, used: [0.5], channels: []}",
    "{name: r, used: [0.5], channels: [\"ops\\r\\nBcc: x@y.org\"]}", "{name: r, used: [0.5], extra: 1}",
    f"{{name: {'r' * 129}, used: [0.5]}}", "{name: r, used: [0.5], scopes: ['project:" + "x" * 300 + "']}",
])  # fmt: skip
def test_hostile_rules_are_refused_at_their_line(rule: str) -> None:
    text = with_alerts(f"  rules:\n    - {rule}\n")
    found = issues(text)
    assert found and all(dotted(i.path).startswith("alerts.rules[0]") for i in found), found
    assert all(i.line == text.splitlines().index(f"    - {rule}") + 1 for i in found if i.line is not None)


@pytest.mark.parametrize("contact", [
    "not-an-address", "a@b", "'a b@uni.example'", "'<pi@uni.example>'", "\"pi@uni.example\\r\\nBcc: x@evil.example\"",
    "'pi@uni.example, x@evil.example'", "\"pi@uni.example\\n\"", "\"pi@uni.example\\0\"", "pi@-uni.example",
    f"{'a' * 65}@uni.example", f"a@{'b' * 250}.example", "\"\\u00e9l\\u00e8ve@uni.example\"", "1e400", ".nan",
])  # fmt: skip
def test_hostile_contacts_are_refused_at_their_path(contact: str) -> None:
    [issue] = issues(with_contacts(f"[{contact}]"))
    assert dotted(issue.path) == "orgs.biocenter.contacts[0]"


def test_cross_references_are_linted_with_their_path() -> None:
    text = with_contacts("[pi@uni.example, PI@uni.example]", with_alerts(
        "  webhooks: [ops, ops, email]\n  rules:\n" + RULE + RULE.replace("0.95", "0.8")
        + "    - {name: other, used: [0.5], channels: [email, email, slack]}\n"))  # fmt: skip
    found = {(dotted(i.path), i.message.split(" (")[0].split(":")[0]) for i in issues(text)}
    assert found == {
        ("alerts.webhooks[1]", "duplicate webhook 'ops'"),
        ("alerts.webhooks[2]", "'email' is the channel of the contacts"),
        ("alerts.rules[1].name", "duplicate rule name 'budgets'"),
        ("alerts.rules[1].used[2]", "duplicate threshold '0.8'"),
        ("alerts.rules[2].channels[1]", "duplicate channel 'email'"),
        ("alerts.rules[2].channels[2]", "unknown channel 'slack'"),
        ("orgs.biocenter.contacts[1]", "duplicate contact 'pi@uni.example'"),
    }


def test_a_pattern_that_matches_nothing_is_a_warning() -> None:
    loaded = parse_policy(with_alerts("  rules:\n    - {name: r, used: [0.5], scopes: ['team:nope', 'user:x*']}\n"))
    assert [(dotted(w.path), w.severity) for w in loaded.warnings] == [("alerts.rules[0].scopes[0]", "warning")]


def test_a_v1_file_may_set_neither() -> None:
    v1 = EXAMPLE.replace("hpcpolicy/v2", "hpcpolicy/v1")
    for text in (with_alerts("  rules:\n" + RULE, v1), with_contacts("[pi@uni.example]", v1)):
        with pytest.raises(PolicyError, match="hpcpolicy/v2"):
            parse_policy(text)
