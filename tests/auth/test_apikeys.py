"""API keys: format, hashing, the keys file (round trip, permissions, atomic append, errors), env keys, reload."""

from __future__ import annotations

import json
import os
import stat
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from hpcpolicy.auth import (
    ApiKeyRecord,
    Authenticator,
    AuthSettings,
    KeysFileError,
    KeyStore,
    Unauthenticated,
    create_key,
    hash_key,
    keysfile,
    load_env_keys,
    load_keys_file,
    revoke_key,
)
from hpcpolicy.auth.apikeys import key_id_of


def record_dict(name: str = "slurm", key_id: str = "0123456789abcdef", **over: object) -> dict[str, object]:
    base: dict[str, object] = {"name": name, "key_id": key_id, "hash": hash_key("x"), "scopes": ["decide"]}
    return base | over


class TestKeyFormat:
    def test_created_key_shape_and_hash(self, tmp_path: Path) -> None:
        key, record = create_key(tmp_path / "keys.yaml", "slurm")
        prefix, key_id, secret = key.split("_", 2)
        assert prefix == "hpk" and key_id == record.key_id and len(secret) >= 40
        assert key_id_of(key) == record.key_id
        assert record.hash == hash_key(key) and record.hash.startswith("sha256:")
        assert key not in repr(record) and record.hash not in repr(record)
        assert record.matches(key) and not record.matches(key + "x")

    def test_keys_are_unique(self, tmp_path: Path) -> None:
        keys = {create_key(tmp_path / "keys.yaml", "svc")[0] for _ in range(5)}
        assert len(keys) == 5

    @pytest.mark.parametrize("key", ["", "hpk", "hpk_", "hpk_0123456789abcdef_", "xyz_0123456789abcdef_s", "hpk_ZZ_s"])
    def test_malformed_keys_have_no_id(self, key: str) -> None:
        assert key_id_of(key) is None

    def test_secret_may_contain_underscores(self) -> None:
        assert key_id_of("hpk_0123456789abcdef_a_b-c") == "0123456789abcdef"

    @pytest.mark.parametrize("name", ["", "has space", "-lead", "x" * 65])
    def test_bad_names_refused(self, tmp_path: Path, name: str) -> None:
        with pytest.raises(ValueError, match="invalid key name"):
            create_key(tmp_path / "keys.yaml", name)

    def test_bad_scope_refused(self, tmp_path: Path) -> None:
        with pytest.raises(ValueError, match="invalid scope"):
            create_key(tmp_path / "keys.yaml", "svc", ["Decide Everything"])


class TestKeysFile:
    def test_round_trip_and_mode(self, tmp_path: Path) -> None:
        path = tmp_path / "nested" / "dir" / "keys.yaml"
        when = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
        key1, rec1 = create_key(path, "slurm-gateway", ["decide"], may_assert_identity=True, now=when)
        key2, rec2 = create_key(path, "ops", ["admin", "decide"])
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
        assert load_keys_file(path) == [rec1, rec2]
        assert rec1.created_at == when
        text = path.read_text()
        assert key1 not in text and key2 not in text
        assert [p.name for p in path.parent.iterdir() if p.name.endswith(".tmp")] == []

    def test_existing_file_mode_is_tightened(self, tmp_path: Path) -> None:
        path = tmp_path / "keys.yaml"
        path.write_text("keys: []\n")
        os.chmod(path, 0o644)
        create_key(path, "svc")
        assert stat.S_IMODE(path.stat().st_mode) == 0o600

    def test_concurrent_creates_lose_nothing(self, tmp_path: Path) -> None:
        path = tmp_path / "keys.yaml"
        threads = [threading.Thread(target=create_key, args=(path, f"svc{i}")) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(r.name for r in load_keys_file(path)) == [f"svc{i}" for i in range(8)]

    def test_hand_written_json_list(self, tmp_path: Path) -> None:
        path = tmp_path / "keys.json"
        path.write_text(json.dumps([record_dict(may_assert_identity=True)]))
        [rec] = load_keys_file(path)
        assert rec.may_assert_identity and rec.scopes == {"decide"}

    def test_missing_and_empty_files_have_no_keys(self, tmp_path: Path) -> None:
        assert load_keys_file(tmp_path / "absent.yaml") == []
        (tmp_path / "empty.yaml").write_text("")
        assert load_keys_file(tmp_path / "empty.yaml") == []

    def test_revoke(self, tmp_path: Path) -> None:
        path = tmp_path / "keys.yaml"
        _, old = create_key(path, "svc")
        _, new = create_key(path, "svc")
        assert revoke_key(path, old.key_id) == [old]
        assert load_keys_file(path) == [new]
        assert revoke_key(path, "nobody") == []
        assert revoke_key(path, "svc") == [new]
        assert load_keys_file(path) == []


class TestMalformedKeysFile:
    @pytest.mark.parametrize(
        ("content", "message"),
        [
            ("keys: [unclosed", "not valid YAML"),
            ("just a string", "expected a list"),
            ("other: []", "unknown top-level key"),
            ("keys:\n  - 42\n", "entry 0: must be a mapping"),
            ("keys:\n  - name: svc\n", "entry 0 ('svc'): missing field(s) ['key_id', 'hash']"),
        ],
    )
    def test_errors_name_file_and_entry(self, tmp_path: Path, content: str, message: str) -> None:
        path = tmp_path / "keys.yaml"
        path.write_text(content)
        with pytest.raises(KeysFileError, match=r"keys\.yaml") as err:
            load_keys_file(path)
        assert message in str(err.value)

    @pytest.mark.parametrize(
        ("over", "message"),
        [
            ({"hash": "hpk_0123456789abcdef_plaintext"}, "hash must be"),
            ({"key_id": "XYZ"}, "key_id must be"),
            ({"scopes": "decide"}, "scopes must be a list"),
            ({"scopes": ["Bad Scope"]}, "invalid scope"),
            ({"may_assert_identity": "yes"}, "may_assert_identity must be true or false"),
            ({"created_at": "yesterday"}, "created_at"),
            ({"scope": ["decide"]}, "unknown field(s) ['scope']"),
        ],
    )
    def test_bad_fields(self, tmp_path: Path, over: dict[str, object], message: str) -> None:
        path = tmp_path / "keys.json"
        path.write_text(json.dumps({"keys": [record_dict(), record_dict("second", "fedcba9876543210") | over]}))
        with pytest.raises(KeysFileError) as err:
            load_keys_file(path)
        assert f"{path}: entry 1 ('second'): " in str(err.value) and message in str(err.value)

    def test_duplicate_key_id(self, tmp_path: Path) -> None:
        path = tmp_path / "keys.json"
        path.write_text(json.dumps([record_dict("a"), record_dict("b")]))
        with pytest.raises(KeysFileError, match=r"entry 1 .*duplicate key_id"):
            load_keys_file(path)

    def test_authenticator_refuses_to_start(self, tmp_path: Path) -> None:
        path = tmp_path / "keys.yaml"
        path.write_text("keys: {not: a list}")
        with pytest.raises(KeysFileError, match=str(path)):
            Authenticator(AuthSettings(keys_file=path))


class TestEnvKeys:
    def test_env_keys(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        key, rec = create_key(tmp_path / "scratch.yaml", "k8s-webhook", may_assert_identity=True)
        monkeypatch.setenv("HPCPOLICY_API_KEYS", json.dumps([rec.to_dict()]))
        auth = Authenticator(AuthSettings())
        assert not auth.dev_mode
        who = auth.resolve(None, key)
        assert (who.subject, who.kind, who.may_assert_identity) == ("k8s-webhook", "service", True)

    def test_env_keys_bad_json(self) -> None:
        with pytest.raises(KeysFileError, match="HPCPOLICY_API_KEYS: not valid JSON"):
            load_env_keys("[{")

    def test_env_keys_bad_entry(self) -> None:
        with pytest.raises(KeysFileError, match="HPCPOLICY_API_KEYS: entry 0 \\('svc'\\): missing"):
            load_env_keys('[{"name": "svc"}]')

    def test_env_and_file_clash(self, tmp_path: Path) -> None:
        path = tmp_path / "keys.yaml"
        _, rec = create_key(path, "svc")
        with pytest.raises(KeysFileError, match="also defined in HPCPOLICY_API_KEYS"):
            KeyStore(path, json.dumps([rec.to_dict()]))

    def test_env_and_file_together(self, tmp_path: Path) -> None:
        path = tmp_path / "keys.yaml"
        file_key, _ = create_key(path, "from-file")
        env_key, env_rec = create_key(tmp_path / "other.yaml", "from-env")
        auth = Authenticator(AuthSettings(keys_file=path, api_keys=json.dumps([env_rec.to_dict()])))
        assert auth.resolve(None, file_key).subject == "from-file"
        assert auth.resolve(None, env_key).subject == "from-env"


class TestReload:
    def test_new_key_takes_effect_without_restart(self, tmp_path: Path) -> None:
        path = tmp_path / "keys.yaml"
        auth = Authenticator(AuthSettings(keys_file=path))  # file does not exist yet: fail closed, not dev mode
        assert not auth.dev_mode
        assert any("does not exist yet" in w for w in auth.warnings())
        key, _ = create_key(path, "svc")
        assert auth.resolve(None, key).subject == "svc"

    def test_revoked_key_stops_working(self, tmp_path: Path) -> None:
        path = tmp_path / "keys.yaml"
        key, rec = create_key(path, "svc")
        auth = Authenticator(AuthSettings(keys_file=path))
        assert auth.resolve(None, key).subject == "svc"
        revoke_key(path, rec.key_id)
        with pytest.raises(Unauthenticated, match="unknown or revoked"):
            auth.resolve(None, key)

    def test_deleted_file_drops_keys(self, tmp_path: Path) -> None:
        path = tmp_path / "keys.yaml"
        key, _ = create_key(path, "svc")
        auth = Authenticator(AuthSettings(keys_file=path))
        path.unlink()
        with pytest.raises(Unauthenticated):
            auth.resolve(None, key)

    def test_broken_edit_fails_closed_until_fixed(self, tmp_path: Path) -> None:
        path = tmp_path / "keys.yaml"
        key, _ = create_key(path, "svc")
        good = path.read_text()
        auth = Authenticator(AuthSettings(keys_file=path))
        path.write_text(good + "  - {broken\n")
        with pytest.raises(KeysFileError):
            auth.resolve(None, key)
        path.write_text(good)
        assert auth.resolve(None, key).subject == "svc"

    def test_unchanged_file_is_not_reparsed(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        path = tmp_path / "keys.yaml"
        key, _ = create_key(path, "svc")
        store = KeyStore(path)
        calls: list[Path] = []
        real = keysfile.load_keys_file

        def counting(p: Path) -> list[ApiKeyRecord]:
            calls.append(p)
            return real(p)

        monkeypatch.setattr(keysfile, "load_keys_file", counting)
        for _ in range(3):
            assert store.lookup(key_id_of(key) or "") is not None
        assert calls == []

    def test_world_writable_file_warns(self, tmp_path: Path) -> None:
        path = tmp_path / "keys.yaml"
        create_key(path, "svc")
        os.chmod(path, 0o666)
        assert any("writable by group or others" in w for w in Authenticator(AuthSettings(keys_file=path)).warnings())
