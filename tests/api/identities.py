"""Callers for HTTP tests: user tokens (JWT), and API keys for a gateway, a usage reporter and an admin."""

from __future__ import annotations

import time
from pathlib import Path

import jwt

from hpcpolicy.auth import AuthSettings, create_key

SECRET = "http-tests-secret-0123456789abcdef-xyz"
ISSUER = "https://idp.example.org"
AUDIENCE = "hpcpolicy"


def token(sub: str = "alice", roles: list[str] | None = None, *, exp_in: int = 300, **extra: object) -> str:
    now = int(time.time())
    claims = {"sub": sub, "roles": roles or [], "iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + exp_in}
    return jwt.encode(claims | extra, SECRET, algorithm="HS256")


def bearer(value: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"}


def user(sub: str, roles: list[str] | None = None) -> dict[str, str]:
    """Headers of a user calling with their own token."""
    return bearer(token(sub, roles))


def make_keys(path: Path) -> dict[str, dict[str, str]]:
    """Headers per role: ``gateway`` (speaks for users, reports nothing), ``scheduler`` (speaks for users
    and reports usage, like the Slurm controller), ``reporter`` (reports usage only), ``admin``."""
    grants = {
        "gateway": (["decide"], True),
        "scheduler": (["decide", "report"], True),
        "reporter": (["report"], False),
        "admin": (["admin"], False),
    }
    keys = {}
    for name, (scopes, asserts) in grants.items():
        key, _ = create_key(path, name, scopes, may_assert_identity=asserts)
        keys[name] = {"X-API-Key": key}
    return keys


def secured_settings(keys_path: Path) -> AuthSettings:
    return AuthSettings(
        _env_file=None,
        keys_file=keys_path,
        api_keys=None,
        jwt_secret=SECRET,
        jwt_public_key=None,
        jwt_issuer=ISSUER,
        jwt_audience=AUDIENCE,
    )
