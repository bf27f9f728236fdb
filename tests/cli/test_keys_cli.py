"""``hpcpolicy keys`` and the start-up checks of ``hpcpolicy serve`` that run before any socket is opened."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hpcpolicy.auth import Authenticator, AuthSettings
from hpcpolicy.cli.main import app

runner = CliRunner()


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    for name in list(os.environ):
        if name.startswith("HPCPOLICY_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    yield


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_create_prints_the_key_once_and_stores_only_its_hash(tmp_path: Path) -> None:
    code, out, err = run("keys", "create", "api-gateway", "--may-assert-identity", "--data-dir", "state")
    assert code == 0, err
    key = out.strip()
    assert key.startswith("hpk_") and "not shown again" in err
    stored = (tmp_path / "state" / "keys.yaml").read_text()
    assert key not in stored and "sha256:" in stored
    who = Authenticator(AuthSettings(_env_file=None, keys_file=tmp_path / "state" / "keys.yaml")).resolve(None, key)
    assert who.subject == "api-gateway" and who.may_assert_identity and not who.is_admin


def test_list_shows_ids_and_scopes_never_secrets(tmp_path: Path) -> None:
    run("keys", "create", "ops", "--scope", "admin", "--file", "k.yaml")
    code, out, _ = run("keys", "list", "--file", "k.yaml", "--json")
    assert code == 0
    [record] = json.loads(out)
    assert record["name"] == "ops" and record["scopes"] == ["admin"] and "hash" not in record


def test_revoke_by_name_and_unknown_key(tmp_path: Path) -> None:
    run("keys", "create", "reporter", "--file", "k.yaml")
    code, _, err = run("keys", "revoke", "reporter", "--file", "k.yaml")
    assert code == 0 and "revoked" in err
    code, _, err = run("keys", "revoke", "reporter", "--file", "k.yaml")
    assert code == 1 and "no key 'reporter'" in err


def test_invalid_name_and_scope_are_refused(tmp_path: Path) -> None:
    code, _, err = run("keys", "create", "bad name", "--file", "k.yaml")
    assert code == 1 and "invalid key name" in err
    code, _, err = run("keys", "create", "ok", "--scope", "Root!", "--file", "k.yaml")
    assert code == 1 and "invalid scope" in err
    assert not (tmp_path / "k.yaml").exists()


def test_serve_refuses_a_public_address_without_authentication() -> None:
    code, _, err = run("serve", "--host", "0.0.0.0")
    assert code == 1 and "without authentication" in err


def test_serve_refuses_a_broken_keys_file(tmp_path: Path) -> None:
    (tmp_path / ".hpcpolicy").mkdir()
    (tmp_path / ".hpcpolicy" / "keys.yaml").write_text("- {name: [unclosed\n")
    code, _, err = run("serve")
    assert code == 1 and "authentication is misconfigured" in err and "keys.yaml" in err


def test_a_created_key_turns_authentication_on_for_serve(tmp_path: Path) -> None:
    auth = Authenticator(AuthSettings(_env_file=None), data_dir=tmp_path / ".hpcpolicy")
    assert auth.dev_mode
    run("keys", "create", "api-gateway")
    auth.refresh()
    assert auth.has_credentials and not auth.dev_mode
