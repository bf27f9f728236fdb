"""Whose budget a request spends: body identity is believed only from callers that may assert it."""

from __future__ import annotations

from pathlib import Path

import pytest

from hpcpolicy.auth import (
    DEV_CALLER,
    Authenticator,
    AuthError,
    AuthSettings,
    Caller,
    Forbidden,
    IdentityRequired,
    create_key,
    require_admin,
    require_scope,
)
from tests.auth.conftest import TokenFactory

ALICE = Caller(
    "alice", "user", roles=frozenset({"gpu_user", "staff"}), groups=frozenset({"lab"}), scopes=frozenset({"decide"})
)
GATEWAY = Caller("gateway", "service", scopes=frozenset({"decide"}), may_assert_identity=True)
REPORTER = Caller("reporter", "service", scopes=frozenset({"decide"}))
OPS = Caller("ops", "service", scopes=frozenset({"admin"}))


class TestJwtUser:
    def test_body_roles_are_replaced_by_token_roles(self) -> None:
        assert ALICE.identity_for("alice", ("hpc_admin", "dgx_user")) == ("alice", ("gpu_user", "staff"), ("lab",))

    def test_body_groups_are_replaced_by_token_groups(self) -> None:
        # groups grant roles and project memberships: a token holder adds none by writing them in the body
        assert ALICE.identity_for("alice", (), ("dgx-users", "genomics-lab")).groups == ("lab",)

    def test_user_defaults_to_token_subject(self) -> None:
        assert ALICE.identity_for(None, None) == ("alice", ("gpu_user", "staff"), ("lab",))

    def test_other_user_is_forbidden(self) -> None:
        with pytest.raises(Forbidden, match="'alice' may not make requests for user 'bob'") as err:
            ALICE.identity_for("bob", ())
        assert err.value.status == 403 and err.value.title == "forbidden"

    def test_admin_user_still_cannot_speak_for_others(self) -> None:
        admin = Caller("root", "user", scopes=frozenset({"decide", "admin"}))
        with pytest.raises(Forbidden):
            admin.identity_for("bob", ())

    def test_end_to_end_from_token(self, hs_auth: Authenticator, hs_token: TokenFactory) -> None:
        who = hs_auth.resolve(f"Bearer {hs_token(roles='gpu_user')}", None)
        assert who.identity_for("alice", ["dgx_admin"], ["dgx-users"]) == ("alice", ("gpu_user",), ())
        with pytest.raises(Forbidden):
            who.identity_for("mallory", [])


class TestServiceKeys:
    def test_gateway_may_assert(self) -> None:
        assert GATEWAY.identity_for("bob", ("gpu_user", "gpu_user", "staff")) == ("bob", ("gpu_user", "staff"), ())
        assert GATEWAY.identity_for("bob", (), ("lab", "dgx", "lab")).groups == ("lab", "dgx")

    def test_gateway_must_name_the_user(self) -> None:
        with pytest.raises(IdentityRequired, match="user_id is required: API key 'gateway' speaks for users") as err:
            GATEWAY.identity_for(None, ("gpu_user",))
        assert err.value.status == 422 and isinstance(err.value, AuthError)

    @pytest.mark.parametrize("user_id", [None, "bob", "reporter"])
    def test_plain_service_key_cannot_decide_for_users(self, user_id: str | None) -> None:
        with pytest.raises(Forbidden, match="may not make decisions for users"):
            REPORTER.identity_for(user_id, ())

    def test_decide_scope_required(self) -> None:
        metrics = Caller("metrics", "service", scopes=frozenset({"read"}), may_assert_identity=True)
        with pytest.raises(Forbidden, match="lacks the 'decide' scope"):
            metrics.identity_for("bob", ())

    def test_end_to_end_from_keys_file(self, tmp_path: Path) -> None:
        path = tmp_path / "keys.yaml"
        gw_key, _ = create_key(path, "slurm-gateway", may_assert_identity=True)
        plain_key, _ = create_key(path, "reporter")
        auth = Authenticator(AuthSettings(keys_file=path))
        assert auth.resolve(None, gw_key).identity_for("bob", ["gpu_user"]) == ("bob", ("gpu_user",), ())
        with pytest.raises(Forbidden):
            auth.resolve(f"ApiKey {plain_key}", None).identity_for("bob", [])


class TestDevMode:
    def test_dev_mode_when_nothing_configured(self) -> None:
        auth = Authenticator(AuthSettings())
        assert auth.dev_mode and auth.resolve(None, None) is DEV_CALLER
        assert auth.warnings()

    def test_dev_asserts(self) -> None:
        assert DEV_CALLER.identity_for("bob", ["gpu_user"], ["lab"]) == ("bob", ("gpu_user",), ("lab",))
        assert DEV_CALLER.is_admin and DEV_CALLER.kind == "dev"

    def test_dev_must_name_the_user_like_a_gateway(self) -> None:
        with pytest.raises(IdentityRequired, match="user_id is required: dev mode speaks for users") as err:
            DEV_CALLER.identity_for(None, ["gpu_user"])
        assert err.value.status == 422

    def test_credentials_are_ignored_in_dev_mode(self) -> None:
        assert Authenticator(AuthSettings()).resolve("Bearer whatever", "hpk_x_y") is DEV_CALLER


class TestAdminAndScopes:
    def test_is_admin_is_a_property(self) -> None:
        assert OPS.is_admin is True and ALICE.is_admin is False

    def test_require_admin(self) -> None:
        require_admin(OPS)
        require_admin(DEV_CALLER)
        with pytest.raises(Forbidden, match="user 'alice' is not an admin"):
            require_admin(ALICE)
        with pytest.raises(Forbidden, match="API key 'gateway' is not an admin"):
            require_admin(GATEWAY)

    def test_require_scope(self) -> None:
        require_scope(ALICE, "decide")
        require_scope(OPS, "decide")  # admin implies every scope
        with pytest.raises(Forbidden, match="lacks the 'jobs' scope"):
            require_scope(ALICE, "jobs")

    def test_caller_is_frozen(self) -> None:
        with pytest.raises(AttributeError):
            ALICE.subject = "bob"  # type: ignore[misc]
