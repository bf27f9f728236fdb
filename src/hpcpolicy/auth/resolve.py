"""``Authenticator``: request header values in, a verified :class:`Caller` out (or an ``AuthError``).

Framework-free on purpose: the FastAPI dependency passes ``Authorization`` and ``X-API-Key`` and maps
``AuthError.status``; the CLI and tests call it directly. Accepted credentials:

- ``X-API-Key: hpk_...`` or ``Authorization: ApiKey hpk_...`` (or ``Bearer hpk_...``, for clients that
  only speak bearer): a service key from the keys file or ``HPCPOLICY_API_KEYS``;
- ``Authorization: Bearer <JWT>``: a user token from the configured issuer.

Both headers at once is refused rather than guessed at: which identity would win is a security
decision no client should leave to the server.
"""

from __future__ import annotations

import stat

from hpcpolicy.auth.apikeys import PREFIX, key_id_of
from hpcpolicy.auth.caller import DEV_CALLER, Caller
from hpcpolicy.auth.errors import Unauthenticated
from hpcpolicy.auth.keysfile import KeyStore
from hpcpolicy.auth.settings import AuthSettings
from hpcpolicy.auth.tokens import JwtVerifier

MISSING = "missing credentials: send 'Authorization: Bearer <token>' or 'X-API-Key: <key>'"


class Authenticator:
    """Built once at start-up: raises ``AuthConfigError``/``KeysFileError`` for a configuration that cannot work."""

    def __init__(self, settings: AuthSettings | None = None):
        self.settings = settings if settings is not None else AuthSettings()
        s = self.settings
        self.keys = KeyStore(s.keys_file, s.api_keys) if s.api_keys_configured else None
        self.jwt = JwtVerifier(s) if s.jwt_configured else None

    @property
    def dev_mode(self) -> bool:
        """No credential source configured: every request is the dev caller. Bind to loopback only."""
        return not self.settings.configured

    def warnings(self) -> list[str]:
        """Weak but working configuration, for the server to log at start-up."""
        out: list[str] = []
        s = self.settings
        if self.dev_mode:
            out.append("no credentials configured: dev mode, every request is trusted as an admin")
        if self.jwt is not None:
            if s.jwt_audience is None:
                out.append("HPCPOLICY_JWT_AUDIENCE is not set: tokens issued for any audience are accepted")
            if s.jwt_issuer is None:
                out.append("HPCPOLICY_JWT_ISSUER is not set: tokens from any issuer holding the key are accepted")
        if s.keys_file is not None:
            try:
                mode = s.keys_file.stat().st_mode
            except OSError:
                out.append(f"{s.keys_file} does not exist yet: no API key is accepted until one is created")
            else:
                if mode & (stat.S_IWGRP | stat.S_IWOTH):
                    out.append(f"{s.keys_file} is writable by group or others: anyone who can write it can add keys")
        return out

    def resolve(self, authorization: str | None, x_api_key: str | None) -> Caller:
        """The caller proven by these header values. Raises :class:`Unauthenticated` (401)."""
        if self.dev_mode:
            return DEV_CALLER
        authorization = (authorization or "").strip() or None
        x_api_key = (x_api_key or "").strip() or None
        if authorization and x_api_key:
            raise Unauthenticated("send one credential: either an Authorization header or X-API-Key, not both")
        if x_api_key:
            return self.api_key(x_api_key)
        if not authorization:
            raise Unauthenticated(MISSING)
        scheme, _, value = authorization.partition(" ")
        value = value.strip()
        if not value or " " in value:
            raise Unauthenticated("malformed Authorization header: expected 'Bearer <token>' or 'ApiKey <key>'")
        match scheme.lower():
            case "apikey":
                return self.api_key(value)
            case "bearer" if value.startswith(f"{PREFIX}_"):
                return self.api_key(value)
            case "bearer":
                return self.bearer(value)
            case _:
                raise Unauthenticated(f"unsupported Authorization scheme {scheme[:20]!r}: use Bearer or ApiKey")

    def api_key(self, key: str) -> Caller:
        if self.keys is None:
            raise Unauthenticated("API keys are not accepted by this server")
        key_id = key_id_of(key)
        if key_id is None:
            raise Unauthenticated(f"malformed API key: expected '{PREFIX}_<key_id>_<secret>'")
        record = self.keys.lookup(key_id)
        if record is None:
            raise Unauthenticated(f"unknown or revoked API key (key_id {key_id})")
        if not record.matches(key):
            raise Unauthenticated(f"invalid API key (key_id {key_id})")
        return Caller(
            subject=record.name,
            kind="service",
            scopes=record.scopes,
            may_assert_identity=record.may_assert_identity,
        )

    def bearer(self, token: str) -> Caller:
        if self.jwt is None:
            raise Unauthenticated("bearer tokens are not accepted by this server: use an API key")
        return self.jwt.verify(token)
