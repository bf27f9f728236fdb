"""Typed principals: a key and a JWT user of the same name are two callers, and neither reads the other's records."""

from __future__ import annotations

import pytest

from hpcpolicy.auth import DEV_CALLER, Caller

USER_ALICE = Caller("alice", "user", scopes=frozenset({"decide"}))
KEY_ALICE = Caller("alice", "service", scopes=frozenset({"decide"}))
GATEWAY = Caller("gateway", "service", scopes=frozenset({"decide"}), may_assert_identity=True)
OPS = Caller("ops", "service", scopes=frozenset({"admin"}))


def test_principals_are_typed() -> None:
    assert (USER_ALICE.principal, KEY_ALICE.principal, DEV_CALLER.principal) == ("user:alice", "key:alice", "dev")
    assert USER_ALICE.subject == KEY_ALICE.subject == "alice"  # messages still name the subject
    assert KEY_ALICE.describe() == "API key 'alice'"


class TestSpeaksFor:
    def test_a_user_speaks_for_records_of_their_user_id(self) -> None:
        assert USER_ALICE.speaks_for("alice", "key:gateway")
        assert not USER_ALICE.speaks_for("bob", "key:gateway")

    def test_a_user_speaks_for_records_they_made(self) -> None:
        assert USER_ALICE.speaks_for("bob", "user:alice")

    def test_a_user_does_not_speak_for_a_key_of_the_same_name(self) -> None:
        assert not USER_ALICE.speaks_for("bob", "key:alice")

    def test_a_key_speaks_only_for_records_it_made(self) -> None:
        assert KEY_ALICE.speaks_for("bob", "key:alice")
        assert not KEY_ALICE.speaks_for("alice", "user:alice")  # user ids are users, never keys
        assert not KEY_ALICE.speaks_for("alice")  # a job of user alice

    @pytest.mark.parametrize("legacy", ["alice", "dev", "gateway"])
    def test_untyped_callers_of_old_records_match_no_principal(self, legacy: str) -> None:
        assert not USER_ALICE.speaks_for("bob", legacy)
        assert not KEY_ALICE.speaks_for("bob", legacy)

    @pytest.mark.parametrize("trusted", [GATEWAY, OPS, DEV_CALLER])
    def test_trusted_callers_speak_for_everyone(self, trusted: Caller) -> None:
        assert trusted.speaks_for("bob", "alice") and trusted.speaks_for(None)

    def test_nothing_matches_a_missing_user(self) -> None:
        assert not USER_ALICE.speaks_for(None) and not KEY_ALICE.speaks_for(None, None)
