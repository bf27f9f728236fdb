"""Keys and token factories for the auth tests. Key pairs are generated here, once per session."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from hpcpolicy.auth import Authenticator, AuthSettings

SECRET = "s3cret-for-tests-only-0123456789abcdef"  # 38 bytes: enough for HS256
ISSUER = "https://idp.example.org/realms/hpc"
AUDIENCE = "hpcpolicy"

TokenFactory = Callable[..., str]


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Settings read ``HPCPOLICY_*``: keep the developer's or CI's own values out of these tests."""
    for name in list(os.environ):
        if name.startswith("HPCPOLICY_"):
            monkeypatch.delenv(name)
    yield


def public_pem(private: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> str:
    return (
        private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


@pytest.fixture(scope="session")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="session")
def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    base: dict[str, Any] = {"sub": "alice", "iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + 300}
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


@pytest.fixture
def hs_token() -> TokenFactory:
    """``hs_token(roles=[...])``: an HS256 token signed with :data:`SECRET`; ``sub=None`` drops a claim."""

    def make(secret: str = SECRET, **overrides: Any) -> str:
        return jwt.encode(claims(**overrides), secret, algorithm="HS256")

    return make


@pytest.fixture
def hs_auth() -> Authenticator:
    return Authenticator(AuthSettings(jwt_secret=SECRET, jwt_issuer=ISSUER, jwt_audience=AUDIENCE))
