"""Where key records live: a keys file (re-read when it changes) and ``HPCPOLICY_API_KEYS``.

The file is YAML (JSON is YAML too): ``keys: [{name, key_id, hash, scopes, may_assert_identity,
created_at}, ...]``. Writers (``create_key``, ``revoke_key``) take a lock, write a 0600 temporary file
and ``os.replace`` it, so a reader never sees half a file and two ``hpcpolicy keys create`` lose nothing.
Comments in a hand-edited file do not survive a write.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import yaml

from hpcpolicy.atomicfile import write_atomically
from hpcpolicy.auth.apikeys import (
    ENV_SOURCE,
    ApiKeyRecord,
    generate_key,
    hash_key,
    parse_records,
    validate_name,
    validate_scopes,
)
from hpcpolicy.auth.caller import SCOPE_DECIDE
from hpcpolicy.auth.errors import KeysFileError
from hpcpolicy.policy.yamlguard import safe_load

if sys.platform != "win32":  # the service runs on POSIX; on Windows writers are simply not serialised
    import fcntl


def load_keys_file(path: Path) -> list[ApiKeyRecord]:
    """Records of a keys file; a missing file has none. Raises :class:`KeysFileError`."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    except (OSError, UnicodeDecodeError) as exc:
        raise KeysFileError(f"{path}: cannot read: {exc}") from None
    try:
        data = safe_load(text)
    except yaml.YAMLError as exc:
        raise KeysFileError(f"{path}: not valid YAML/JSON: {exc}") from None
    return parse_records(data, str(path))


def load_env_keys(text: str | None) -> list[ApiKeyRecord]:
    """Records from ``HPCPOLICY_API_KEYS`` (a JSON list). Raises :class:`KeysFileError`."""
    if text is None or not text.strip():
        return []
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise KeysFileError(f"{ENV_SOURCE}: not valid JSON: {exc}") from None
    return parse_records(data, ENV_SOURCE)


def create_key(
    path: Path,
    name: str,
    scopes: Iterable[str] = (SCOPE_DECIDE,),
    *,
    may_assert_identity: bool = False,
    now: datetime | None = None,
) -> tuple[str, ApiKeyRecord]:
    """Make a key and append its record to ``path``. Returns ``(plaintext key, record)``.

    The plaintext exists only in the return value: print it once. Names may repeat (rotation: create
    the new key, deploy it, revoke the old one by ``key_id``).
    """
    key_id, key = generate_key()
    record = ApiKeyRecord(
        name=validate_name(name),
        key_id=key_id,
        hash=hash_key(key),
        scopes=validate_scopes(scopes),
        may_assert_identity=may_assert_identity,
        created_at=(now or datetime.now(UTC)).replace(microsecond=0),
    )
    with _locked(path):
        _write_records(path, [*load_keys_file(path), record])
    return key, record


def revoke_key(path: Path, key_id_or_name: str) -> list[ApiKeyRecord]:
    """Remove the key with this ``key_id``, or every key with this name. Returns what was removed."""
    with _locked(path):
        records = load_keys_file(path)
        removed = [r for r in records if key_id_or_name in (r.key_id, r.name)]
        if removed:
            _write_records(path, [r for r in records if r not in removed])
    return removed


def restore_keys(path: Path, records: Sequence[ApiKeyRecord]) -> None:
    """Put back ``records`` that are not in the file (undoing a revocation whose audit event failed)."""
    with _locked(path):
        present = load_keys_file(path)
        known = {r.key_id for r in present}
        _write_records(path, [*present, *(r for r in records if r.key_id not in known)])


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Serialise writers (two ``keys create`` at once would otherwise lose one key)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    lock = path.parent / f".{path.name}.lock"
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        if sys.platform != "win32":
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _write_records(path: Path, records: Sequence[ApiKeyRecord]) -> None:
    """Write atomically (a reader never sees half a file), readable by the owner only."""
    body = yaml.safe_dump({"keys": [r.to_dict() for r in records]}, sort_keys=False)
    text = "# hpcpolicy API keys: SHA-256 hashes only; manage with `hpcpolicy keys`.\n" + body
    write_atomically(path, text, 0o600)


Signature = tuple[int, ...]
"""What a ``stat`` says about the file: ``(mtime_ns, size, inode)``, ``(-errno,)`` if it cannot be stat'ed."""


@dataclass(frozen=True, slots=True)
class FileChange:
    """What a re-read found: whether the file existed before and does now, its keys, or why it is unusable."""

    path: Path
    existed: bool
    exists: bool
    keys: int
    error: KeysFileError | None = None
    was_broken: bool = False


class KeyStore:
    """Key records from the environment (read once) and a keys file (re-read when it changes).

    A ``stat`` per lookup is the whole cost of freshness: a key created, revoked, or a file removed is
    seen by the very next request. A file that becomes unreadable or invalid makes every API-key lookup
    raise :class:`KeysFileError` until it changes again (its error is kept, not re-parsed per request):
    failing closed means a key removed by a botched edit is never honoured, at the price of a 503
    instead of a silent fallback. ``on_change`` hears of every change after the first read, once.
    """

    def __init__(
        self,
        path: Path | None = None,
        env_json: str | None = None,
        *,
        on_change: Callable[[FileChange], None] | None = None,
    ):
        self.path = path
        self._env = {r.key_id: r for r in load_env_keys(env_json)}
        self._file: dict[str, ApiKeyRecord] = {}
        self._signature: Signature | None = None
        self._error: KeysFileError | None = None
        self._lock = threading.Lock()
        if path is not None:
            self._reload(path, _stat(path))
        if self._error is not None:
            raise self._error
        self._on_change = on_change

    @property
    def file_exists(self) -> bool:
        """Whether the keys file existed at the last look (valid or not): a file that exists is in force."""
        return self._signature is not None

    def lookup(self, key_id: str) -> ApiKeyRecord | None:
        self._records()
        return self._file.get(key_id) or self._env.get(key_id)

    def records(self) -> list[ApiKeyRecord]:
        return [*self._env.values(), *self._records().values()]

    def refresh(self) -> None:
        """Re-read the file if its ``stat`` changed. Never raises: a broken file is remembered (see lookup)."""
        if self.path is None:
            return
        signature = _stat(self.path)
        if signature == self._signature:
            return
        with self._lock:
            if signature == self._signature:
                return
            change = self._reload(self.path, signature)
        if self._on_change is not None:
            self._on_change(change)

    def _records(self) -> dict[str, ApiKeyRecord]:
        self.refresh()
        error = self._error
        if error is not None:
            raise KeysFileError(str(error))
        return self._file

    def _reload(self, path: Path, signature: Signature | None) -> FileChange:
        change = FileChange(path, self.file_exists, signature is not None, 0, was_broken=self._error is not None)
        try:
            if signature is not None and len(signature) == 1:
                raise KeysFileError(f"{path}: cannot read: {os.strerror(-signature[0])}")
            records = {r.key_id: r for r in load_keys_file(path)}
            clash = sorted(records.keys() & self._env.keys())
            if clash:
                raise KeysFileError(f"{path}: key_id(s) {clash} also defined in {ENV_SOURCE}")
        except KeysFileError as exc:
            self._file, self._error, self._signature = {}, exc, signature
            return replace(change, error=exc)
        self._file, self._error, self._signature = records, None, signature
        return replace(change, keys=len(records))


def _stat(path: Path) -> Signature | None:
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    except OSError as exc:  # a directory we may not search, say: the file is there, unusable
        return (-(exc.errno or 1),)
    return (st.st_mtime_ns, st.st_size, st.st_ino)
