"""Authentication follows the keys file under a running server: appearing, changing, disappearing, breaking.

Dev mode comes back only where it may exist (loopback, nothing else configured, the data directory's
file); everywhere else a file that goes away fails closed. Every transition is logged once.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from hpcpolicy.auth import (
    DEV_CALLER,
    Authenticator,
    AuthSettings,
    KeysFileError,
    Unauthenticated,
    create_key,
    keysfile,
    revoke_key,
)
from tests.auth.conftest import SECRET, TokenFactory

MADE_UP = "hpk_0123456789abcdef_madeupsecret"


@pytest.fixture
def logged(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.INFO, logger="hpcpolicy.auth")
    return caplog


def lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "hpcpolicy.auth"]


def dev_server(tmp_path: Path, **settings: object) -> tuple[Authenticator, Path]:
    """An authenticator as ``serve`` builds it on 127.0.0.1 with ``--data-dir tmp_path``."""
    return Authenticator(AuthSettings(**settings), data_dir=tmp_path, loopback=True), tmp_path / "keys.yaml"


def refused(auth: Authenticator, x_api_key: str | None) -> bool:
    try:
        auth.resolve(None, x_api_key)
    except Unauthenticated:
        return True
    return False


class TestDevServer:
    def test_a_key_created_under_it_turns_authentication_on(
        self, tmp_path: Path, logged: pytest.LogCaptureFixture
    ) -> None:
        auth, path = dev_server(tmp_path)
        assert auth.dev_mode and auth.resolve(None, MADE_UP) is DEV_CALLER
        key, _ = create_key(path, "gateway", may_assert_identity=True)
        assert refused(auth, MADE_UP) and refused(auth, None)
        assert auth.resolve(None, key).principal == "key:gateway" and not auth.dev_mode
        assert lines(logged) == [f"keys file {path} appeared: authentication is on; 1 key accepted"]
        assert logged.records[0].levelno == logging.WARNING  # kept by servers that log warnings only

    def test_changes_are_followed_and_logged(self, tmp_path: Path, logged: pytest.LogCaptureFixture) -> None:
        auth, path = dev_server(tmp_path)
        first, record = create_key(path, "first")
        auth.refresh()
        second, _ = create_key(path, "second")
        assert auth.resolve(None, second).subject == "second"
        revoke_key(path, record.key_id)
        assert refused(auth, first) and auth.resolve(None, second).subject == "second"
        changed = f"keys file {path} changed"
        assert lines(logged)[1:] == [f"{changed}; 2 keys accepted", f"{changed}; 1 key accepted"]

    def test_all_keys_revoked_keeps_authentication_on(self, tmp_path: Path, logged: pytest.LogCaptureFixture) -> None:
        auth, path = dev_server(tmp_path)
        key, _ = create_key(path, "only")
        revoke_key(path, "only")
        assert refused(auth, key) and refused(auth, None) and refused(auth, MADE_UP)
        assert lines(logged) == [f"keys file {path} appeared: authentication is on; no key is accepted (it lists none)"]

    def test_removing_the_file_returns_to_dev_mode(self, tmp_path: Path, logged: pytest.LogCaptureFixture) -> None:
        path = tmp_path / "keys.yaml"
        create_key(path, "gateway")
        auth, _ = dev_server(tmp_path)
        assert refused(auth, None)
        path.unlink()
        assert auth.resolve(None, None) is DEV_CALLER and auth.dev_mode
        record = logged.records[-1]
        assert record.getMessage() == f"keys file {path} removed: back to dev mode (loopback only)"
        assert record.levelno == logging.WARNING

    def test_background_refresh_logs_without_a_request(self, tmp_path: Path, logged: pytest.LogCaptureFixture) -> None:
        auth, path = dev_server(tmp_path)
        create_key(path, "gateway")
        auth.refresh()
        auth.refresh()  # no change since: nothing more to say
        assert lines(logged) == [f"keys file {path} appeared: authentication is on; 1 key accepted"]

    def test_a_broken_file_fails_closed_until_fixed(self, tmp_path: Path, logged: pytest.LogCaptureFixture) -> None:
        auth, path = dev_server(tmp_path)
        path.write_text("- {name: [unclosed\n")
        with pytest.raises(KeysFileError, match="not valid YAML"):
            auth.resolve(None, MADE_UP)
        assert refused(auth, None) and not auth.dev_mode  # the file exists: never dev mode
        [broken] = logged.records
        assert broken.levelno == logging.ERROR
        assert broken.getMessage().startswith(f"keys file {path} appeared: authentication is on; it cannot be used")
        path.unlink()
        key, _ = create_key(path, "gateway")
        assert auth.resolve(None, key).subject == "gateway"

    def test_a_broken_file_is_parsed_once_not_per_request(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        auth, path = dev_server(tmp_path)
        path.write_text("keys: 5\n")
        calls: list[Path] = []
        real = keysfile.load_keys_file
        monkeypatch.setattr(keysfile, "load_keys_file", lambda p: calls.append(p) or real(p))
        for _ in range(3):
            with pytest.raises(KeysFileError, match="expected a list"):
                auth.resolve(None, MADE_UP)
        assert calls == [path]

    def test_another_credential_source_means_never_dev_mode(self, tmp_path: Path, hs_token: TokenFactory) -> None:
        auth, path = dev_server(tmp_path, jwt_secret=SECRET)
        assert not auth.dev_mode and refused(auth, None)
        key, _ = create_key(path, "gateway")
        assert auth.resolve(None, key).subject == "gateway"
        path.unlink()
        assert refused(auth, None) and refused(auth, key)
        assert auth.resolve(f"Bearer {hs_token()}", None).principal == "user:alice"


class TestFailClosed:
    def test_an_explicit_keys_file_that_disappears_accepts_nothing(
        self, tmp_path: Path, logged: pytest.LogCaptureFixture
    ) -> None:
        path = tmp_path / "elsewhere.yaml"
        key, _ = create_key(path, "gateway")
        auth = Authenticator(AuthSettings(keys_file=path), data_dir=tmp_path, loopback=True)
        path.unlink()
        assert refused(auth, key) and refused(auth, None) and refused(auth, MADE_UP) and not auth.dev_mode
        assert lines(logged) == [f"keys file {path} removed: no key from it is accepted"]
        key, _ = create_key(path, "again")
        assert auth.resolve(None, key).subject == "again"
        assert lines(logged)[-1] == f"keys file {path} appeared; 1 key accepted"

    def test_a_server_reachable_from_other_hosts_never_falls_back_to_dev_mode(
        self, tmp_path: Path, logged: pytest.LogCaptureFixture
    ) -> None:
        path = tmp_path / "keys.yaml"
        key, _ = create_key(path, "gateway")
        auth = Authenticator(AuthSettings(), data_dir=tmp_path, loopback=False)
        assert auth.resolve(None, key).subject == "gateway"
        path.unlink()
        assert refused(auth, None) and refused(auth, key) and not auth.dev_mode
        assert lines(logged) == [f"keys file {path} removed: no key from it is accepted"]

    def test_nothing_configured_off_loopback_has_no_credentials(self, tmp_path: Path) -> None:
        auth = Authenticator(AuthSettings(), data_dir=tmp_path, loopback=False)
        assert not auth.has_credentials and not auth.dev_mode and refused(auth, None)
