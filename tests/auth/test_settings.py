"""``AuthSettings`` from the environment: names, list parsing, blanks, and what counts as configured."""

from __future__ import annotations

from pathlib import Path

import pytest

from hpcpolicy.auth import AuthSettings


def test_defaults_are_dev_mode() -> None:
    s = AuthSettings()
    assert not s.configured
    assert (s.jwt_user_claim, s.jwt_roles_claim, s.jwt_admin_role, s.jwt_leeway_seconds) == (
        "sub",
        "roles",
        "hpc_admin",
        30.0,
    )
    assert s.algorithms == ()
    assert s.jwt_groups_claim == "groups"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("HPCPOLICY_KEYS_FILE", "/etc/hpcpolicy/keys.yaml"),
        ("HPCPOLICY_API_KEYS", "[]"),
        ("HPCPOLICY_JWT_SECRET", "x" * 32),
        ("HPCPOLICY_JWT_PUBLIC_KEY", "/etc/hpcpolicy/idp.pem"),
    ],
)
def test_any_source_configures(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    assert AuthSettings().configured


@pytest.mark.parametrize("value", ["RS256, ES256", "RS256 ES256", '["RS256", "ES256"]'])
def test_algorithm_lists(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("HPCPOLICY_JWT_ALGORITHMS", value)
    assert AuthSettings().algorithms == ("RS256", "ES256")


def test_blank_values_are_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("KEYS_FILE", "API_KEYS", "JWT_SECRET", "JWT_PUBLIC_KEY", "JWT_ISSUER", "JWT_AUDIENCE"):
        monkeypatch.setenv(f"HPCPOLICY_{name}", "")
    monkeypatch.setenv("HPCPOLICY_JWT_GROUPS_CLAIM", " ")  # no groups from tokens
    s = AuthSettings()
    assert not s.configured and s.jwt_issuer is None and s.jwt_audience is None and s.jwt_groups_claim is None


def test_env_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HPCPOLICY_KEYS_FILE", "/k.yaml")
    monkeypatch.setenv("HPCPOLICY_JWT_ISSUER", "https://idp")
    monkeypatch.setenv("HPCPOLICY_JWT_AUDIENCE", "hpcpolicy")
    monkeypatch.setenv("HPCPOLICY_JWT_USER_CLAIM", "preferred_username")
    monkeypatch.setenv("HPCPOLICY_JWT_ROLES_CLAIM", "groups")
    monkeypatch.setenv("HPCPOLICY_JWT_ADMIN_ROLE", "ops")
    monkeypatch.setenv("HPCPOLICY_JWT_LEEWAY_SECONDS", "5")
    monkeypatch.setenv("HPCPOLICY_JWT_GROUPS_CLAIM", "realm_access.groups")
    s = AuthSettings()
    assert s.jwt_groups_claim == "realm_access.groups"
    assert s.keys_file == Path("/k.yaml") and s.jwt_issuer == "https://idp" and s.jwt_audience == "hpcpolicy"
    assert (s.jwt_user_claim, s.jwt_roles_claim, s.jwt_admin_role, s.jwt_leeway_seconds) == (
        "preferred_username",
        "groups",
        "ops",
        5.0,
    )


def test_secret_is_not_in_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HPCPOLICY_JWT_SECRET", "topsecret-value-0123456789abcdef")
    assert "topsecret" not in repr(AuthSettings())
