"""API keys for services: ``hpk_<key_id>_<secret>``, stored only as a SHA-256 hash.

A key has 256 random bits, so a fast unsalted hash is enough (no password-stretching needed) and a
leaked keys file lets nobody call the service. ``key_id`` is public: it finds the record in O(1) and
names the key in logs and error messages; the hash of the whole key is then compared in constant time.

This module is the format: making keys, hashing them, and validating records with messages that name
the source and entry. Where records are stored and re-read is :mod:`hpcpolicy.auth.keysfile`.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from hpcpolicy.auth.caller import SCOPE_DECIDE
from hpcpolicy.auth.errors import KeysFileError

PREFIX = "hpk"
HASH_PREFIX = "sha256:"
ENV_SOURCE = "HPCPOLICY_API_KEYS"
MAX_KEY_LENGTH = 256

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
_KEY_ID = re.compile(r"[0-9a-f]{8,32}")
_SCOPE = re.compile(r"[a-z][a-z0-9_.:-]{0,63}")
_HASH = re.compile(r"[0-9a-f]{64}")
_FIELDS = {"name", "key_id", "hash", "scopes", "may_assert_identity", "created_at"}


@dataclass(frozen=True, slots=True)
class ApiKeyRecord:
    name: str
    key_id: str
    hash: str = field(repr=False)
    scopes: frozenset[str] = frozenset({SCOPE_DECIDE})
    may_assert_identity: bool = False
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def matches(self, key: str) -> bool:
        return hmac.compare_digest(hash_key(key), self.hash)

    def to_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "key_id": self.key_id,
            "hash": self.hash,
            "scopes": sorted(self.scopes),
            "may_assert_identity": self.may_assert_identity,
            "created_at": self.created_at.isoformat(),
        }


def hash_key(key: str) -> str:
    return HASH_PREFIX + hashlib.sha256(key.encode()).hexdigest()


def generate_key() -> tuple[str, str]:
    """A fresh ``(key_id, plaintext key)``. The secret is 32 random bytes, URL-safe base64."""
    key_id = secrets.token_hex(8)
    return key_id, f"{PREFIX}_{key_id}_{secrets.token_urlsafe(32)}"


def key_id_of(key: str) -> str | None:
    """The ``key_id`` of a well-formed key, else None. The secret may itself contain ``_``."""
    parts = key.split("_", 2)
    if len(key) > MAX_KEY_LENGTH or len(parts) != 3 or parts[0] != PREFIX or not parts[2]:
        return None
    return parts[1] if _KEY_ID.fullmatch(parts[1]) else None


def validate_name(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise ValueError(f"invalid key name {name!r}: 1-64 characters, letters, digits and . _ @ -")
    return name


def validate_scopes(scopes: Iterable[str]) -> frozenset[str]:
    out = frozenset(scopes)
    bad = sorted(str(s) for s in out if not isinstance(s, str) or not _SCOPE.fullmatch(s))
    if bad:
        raise ValueError(f"invalid scope(s) {bad}: lower-case names such as 'decide' or 'admin'")
    return out


def parse_record(raw: object) -> ApiKeyRecord:
    """One record from its dict form. Raises ``ValueError`` saying which field is wrong."""
    if not isinstance(raw, Mapping):
        raise ValueError(f"must be a mapping, got {type(raw).__name__}")
    unknown = sorted(str(k) for k in raw if k not in _FIELDS)
    if unknown:
        raise ValueError(f"unknown field(s) {unknown}")
    missing = [k for k in ("name", "key_id", "hash") if k not in raw]
    if missing:
        raise ValueError(f"missing field(s) {missing}")
    name, key_id, digest = raw["name"], raw["key_id"], raw["hash"]
    if not isinstance(name, str):
        raise ValueError("name must be a string")
    validate_name(name)
    if not isinstance(key_id, str) or not _KEY_ID.fullmatch(key_id):
        raise ValueError("key_id must be 8-32 lower-case hex digits")
    if not isinstance(digest, str) or not _HASH.fullmatch(digest.removeprefix(HASH_PREFIX)):
        raise ValueError("hash must be 'sha256:' and 64 lower-case hex digits (never the plaintext key)")
    scopes = raw.get("scopes", [SCOPE_DECIDE])
    if isinstance(scopes, str) or not isinstance(scopes, Sequence):
        raise ValueError("scopes must be a list, e.g. [decide]")
    assert_identity = raw.get("may_assert_identity", False)
    if not isinstance(assert_identity, bool):
        raise ValueError("may_assert_identity must be true or false")
    return ApiKeyRecord(
        name=name,
        key_id=key_id,
        hash=HASH_PREFIX + digest.removeprefix(HASH_PREFIX),
        scopes=validate_scopes(scopes),
        may_assert_identity=assert_identity,
        created_at=_created_at(raw.get("created_at")),
    )


def _created_at(value: object) -> datetime:
    if value is None:
        return datetime.fromtimestamp(0, UTC)
    if isinstance(value, datetime):  # YAML reads unquoted timestamps itself
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(f"created_at {value!r} is not an ISO 8601 time") from None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    raise ValueError("created_at must be an ISO 8601 time")


def parse_records(data: object, source: str) -> list[ApiKeyRecord]:
    """Records from a parsed document: a list, or a mapping with a ``keys`` list. Errors name source and entry."""
    if data is None:
        return []
    if isinstance(data, Mapping):
        extra = sorted(str(k) for k in data if k != "keys")
        if extra:
            raise KeysFileError(f"{source}: unknown top-level key(s) {extra}; expected 'keys: [...]'")
        data = data.get("keys") or []
    if not isinstance(data, list):
        raise KeysFileError(f"{source}: expected a list of key records or 'keys: [...]'")
    records: list[ApiKeyRecord] = []
    seen: set[str] = set()
    for index, raw in enumerate(data):
        label = raw.get("name") if isinstance(raw, Mapping) else None
        where = f"{source}: entry {index}" + (f" ({label!r})" if isinstance(label, str) else "")
        try:
            record = parse_record(raw)
        except ValueError as exc:
            raise KeysFileError(f"{where}: {exc}") from None
        if record.key_id in seen:
            raise KeysFileError(f"{where}: duplicate key_id {record.key_id!r}")
        seen.add(record.key_id)
        records.append(record)
    return records
