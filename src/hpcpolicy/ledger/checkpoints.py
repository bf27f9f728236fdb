"""Signed checkpoints of the audit chain: what catches a chain rewritten from some point on.

A database admin can edit an event and recompute every hash after it: the chain is consistent again and
:func:`hpcpolicy.ledger.events.verify_stored` finds nothing. A checkpoint is the sealer's signature over
``(seq, hash, time)`` with an Ed25519 key that lives in the service's settings, not in the database;
copies exported to a place the database admin cannot write (a WORM bucket, another team's host) keep
the chain honest up to their ``seq``: a rewritten chain no longer has the signed hash there.

Pure: signing, checking signatures, comparing checkpoints with the chain. Keys are PEM files.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from hpcpolicy.ledger.events import instant


class CheckpointKeyError(ValueError):
    """A key file that is missing, unreadable or not an Ed25519 key."""


@dataclass(frozen=True, slots=True)
class Checkpoint:
    seq: int
    hash: str
    time: datetime
    key_id: str
    signature: str

    def message(self) -> bytes:
        return signed_message(self.seq, self.hash, self.time)

    def to_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "hash": self.hash, "time": instant(self.time), "key_id": self.key_id,
                "signature": self.signature}  # fmt: skip

    @classmethod
    def from_dict(cls, raw: object, where: str) -> Checkpoint:
        """A checkpoint read from an exported file; ``where`` names the line for errors."""
        if not isinstance(raw, dict):
            raise ValueError(f"{where}: a checkpoint is an object with seq, hash, time, key_id, signature")
        try:
            seq, time = raw["seq"], datetime.fromisoformat(str(raw["time"]).replace("Z", "+00:00"))
            fields = (str(raw["hash"]), str(raw["key_id"]), str(raw["signature"]))
        except (KeyError, ValueError) as exc:
            raise ValueError(f"{where}: a checkpoint needs seq, hash, time, key_id, signature ({exc})") from None
        if type(seq) is not int or seq < 1:
            raise ValueError(f"{where}: seq must be a positive integer")
        return cls(seq, fields[0], time if time.tzinfo else time.replace(tzinfo=UTC), fields[1], fields[2])


def signed_message(seq: int, chain_hash: str, time: datetime) -> bytes:
    """What a checkpoint's signature covers (versioned, so the format may change without ambiguity)."""
    return f"hpcpolicy-audit-checkpoint:v1:{seq}:{chain_hash}:{instant(time)}".encode()


def key_id(public: Ed25519PublicKey) -> str:
    """A short name of a public key: the first 16 hex digits of SHA-256 over its raw bytes."""
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


class Signer:
    """Signs checkpoints with the private key from settings."""

    def __init__(self, private: Ed25519PrivateKey):
        self._private = private
        self.public = private.public_key()
        self.key_id = key_id(self.public)

    @classmethod
    def from_file(cls, path: Path) -> Signer:
        try:
            loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
        except (OSError, ValueError, TypeError) as exc:
            raise CheckpointKeyError(f"{path}: cannot read an Ed25519 private key: {exc}") from None
        if not isinstance(loaded, Ed25519PrivateKey):
            raise CheckpointKeyError(f"{path}: not an Ed25519 private key")
        return cls(loaded)

    def sign(self, seq: int, chain_hash: str, time: datetime) -> Checkpoint:
        signature = self._private.sign(signed_message(seq, chain_hash, time)).hex()
        return Checkpoint(seq, chain_hash, time, self.key_id, signature)


def new_private_key_pem() -> tuple[bytes, bytes]:
    """(private PEM, public PEM) of a fresh Ed25519 key."""
    private = Ed25519PrivateKey.generate()
    pem = serialization.Encoding.PEM
    return private.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()), public_pem(
        private.public_key()
    )


def public_pem(public: Ed25519PublicKey) -> bytes:
    return public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def load_public_key(path: Path) -> Ed25519PublicKey:
    """A public key file, or the public half of a private key file."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CheckpointKeyError(f"{path}: {exc}") from None
    try:
        loaded: object = serialization.load_pem_public_key(data)
    except ValueError:
        try:
            loaded = serialization.load_pem_private_key(data, password=None).public_key()
        except (ValueError, TypeError) as exc:
            raise CheckpointKeyError(f"{path}: not a PEM Ed25519 key: {exc}") from None
    if not isinstance(loaded, Ed25519PublicKey):
        raise CheckpointKeyError(f"{path}: not an Ed25519 key")
    return loaded


@dataclass(frozen=True, slots=True)
class CheckpointPolicy:
    """When the sealer signs a checkpoint (every ``events`` sealed events, or after ``interval`` when any
    was sealed since the last), with which key, and the file each new one is appended to (JSON lines),
    if any: a copy outside the database."""

    signer: Signer
    events: int = 1000
    interval: timedelta = timedelta(minutes=1)
    export_file: Path | None = None


@dataclass(frozen=True, slots=True)
class CheckpointProblem:
    seq: int
    detail: str

    def __str__(self) -> str:
        return f"checkpoint at seq {self.seq}: {self.detail}"


def check_checkpoints(
    checkpoints: Iterable[Checkpoint], public: Ed25519PublicKey, hash_at: Callable[[int], str | None]
) -> tuple[int, CheckpointProblem | None]:
    """(checkpoints checked, the first problem): a signature that does not verify (a forged or edited
    checkpoint), or a chain whose hash at the checkpoint's ``seq`` is not the signed one (rewritten) or
    that no longer reaches it (truncated). ``hash_at(seq)`` reads the chain."""
    wanted = key_id(public)
    checked = 0
    for cp in sorted(checkpoints, key=lambda c: c.seq):
        if cp.key_id != wanted:
            return checked, CheckpointProblem(cp.seq, f"signed by key {cp.key_id}, not {wanted}")
        try:
            public.verify(bytes.fromhex(cp.signature), cp.message())
        except (InvalidSignature, ValueError):
            return checked, CheckpointProblem(cp.seq, "the signature does not verify (forged or edited)")
        found = hash_at(cp.seq)
        if found is None:
            return checked, CheckpointProblem(cp.seq, "deleted: the chain no longer reaches this event")
        if found != cp.hash:
            signed = f"the {cp.hash[:12]}… signed at {instant(cp.time)}"
            return checked, CheckpointProblem(cp.seq, f"rewritten: the chain's hash {found[:12]}… is not {signed}")
        checked += 1
    return checked, None

