"""``Authenticator``: request header values in, a verified :class:`Caller` out (or an ``AuthError``).

Framework-free on purpose: the FastAPI dependency passes ``Authorization`` and ``X-API-Key`` and maps
``AuthError.status``; the CLI and tests call it directly. Accepted credentials:

- ``X-API-Key: hpk_...`` or ``Authorization: ApiKey hpk_...`` (or ``Bearer hpk_...``, for clients that
  only speak bearer): a service key from the keys file or ``HPCPOLICY_API_KEYS``;
- ``Authorization: Bearer <JWT>``: a user token from the configured issuer.

Both headers at once is refused rather than guessed at: which identity would win is a security
decision no client should leave to the server.

Authentication follows the keys file while the server runs. On a loopback server with no other
credential source, the data directory's ``keys.yaml`` appearing (``hpcpolicy keys create``) turns
authentication on and its removal returns to dev mode. A keys file named by ``HPCPOLICY_KEYS_FILE``, or
any file on a server reachable from other hosts, fails closed when it disappears: no key is accepted,
and dev mode never returns. Each transition is logged once (logger ``hpcpolicy.auth``).
"""

from __future__ import annotations

import logging
import stat
from pathlib import Path

from hpcpolicy.auth.apikeys import PREFIX, key_id_of
from hpcpolicy.auth.caller import DEV_CALLER, Caller
from hpcpolicy.auth.errors import Unauthenticated
from hpcpolicy.auth.keysfile import FileChange, KeyStore
from hpcpolicy.auth.settings import AuthSettings
from hpcpolicy.auth.tokens import JwtVerifier

MISSING = "missing credentials: send 'Authorization: Bearer <token>' or 'X-API-Key: <key>'"

log = logging.getLogger("hpcpolicy.auth")


class Authenticator:
    """Built once at start-up: raises ``AuthConfigError``/``KeysFileError`` for a configuration that cannot work.

    ``data_dir``: whose ``keys.yaml`` is read when ``HPCPOLICY_KEYS_FILE`` is not set (where ``hpcpolicy
    keys`` writes). ``loopback``: the server is reachable from this host only, the one place dev mode may
    happen. Without a ``data_dir`` and with nothing configured, every request is the dev caller (tests).
    """

    def __init__(self, settings: AuthSettings | None = None, *, data_dir: Path | None = None, loopback: bool = True):
        self.settings = settings if settings is not None else AuthSettings()
        s = self.settings
        self.dev_allowed = loopback and not s.configured
        path = s.keys_file_or(data_dir) if data_dir is not None else s.keys_file
        has_keys = path is not None or s.api_keys is not None
        self.keys = KeyStore(path, s.api_keys, on_change=self._changed) if has_keys else None
        self.jwt = JwtVerifier(s) if s.jwt_configured else None

    @property
    def has_credentials(self) -> bool:
        """A credential source is in force: configured in the environment, or a keys file that exists."""
        return self.settings.configured or (self.keys is not None and self.keys.file_exists)

    @property
    def dev_mode(self) -> bool:
        """Every request is the dev caller: loopback, nothing configured, no keys file (at the last look)."""
        return self.dev_allowed and not self.has_credentials

    def refresh(self) -> None:
        """Look at the keys file again (a ``stat``; a re-read if it changed) and log what a change means.

        Requests do this themselves; a server also calls it every fraction of a second, so a transition
        is logged when it happens, not at the next request.
        """
        if self.keys is not None:
            self.keys.refresh()

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
        path = self.keys.path if self.keys is not None else None
        if path is not None:
            try:
                mode = path.stat().st_mode
            except OSError:
                if s.keys_file is not None:  # named on purpose; the data directory's is optional
                    out.append(f"{path} does not exist yet: no API key is accepted until one is created")
            else:
                if mode & (stat.S_IWGRP | stat.S_IWOTH):
                    out.append(f"{path} is writable by group or others: anyone who can write it can add keys")
        return out

    def resolve(self, authorization: str | None, x_api_key: str | None) -> Caller:
        """The caller proven by these header values. Raises :class:`Unauthenticated` (401)."""
        if self.dev_allowed:
            self.refresh()
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

    def _changed(self, change: FileChange) -> None:
        level, message = _describe(change, self.dev_allowed)
        log.log(level, message, extra={"keys_file": str(change.path.absolute())})


def _describe(change: FileChange, dev_allowed: bool) -> tuple[int, str]:
    """The log level and line for a keys file change; ``dev_allowed``: its absence means dev mode.

    Authentication turning on or off, or a file vanishing, is a warning so that servers logging only
    warnings still record it; a broken file is an error; keys added or revoked are information.
    """
    where = f"keys file {change.path.absolute()}"  # serve's data directory is relative by default
    if not change.exists:
        fallback = "back to dev mode (loopback only)" if dev_allowed else "no key from it is accepted"
        return logging.WARNING, f"{where} removed: {fallback}"
    if not change.existed:
        what = f"{where} appeared" + (": authentication is on" if dev_allowed else "")
    elif change.was_broken and change.error is None:
        what = f"{where} changed and is usable again"
    else:
        what = f"{where} changed"
    if change.error is not None:
        return logging.ERROR, f"{what}; it cannot be used, so no API key is accepted until it is fixed: {change.error}"
    counted = {0: "no key is accepted (it lists none)", 1: "1 key accepted"}
    level = logging.WARNING if dev_allowed and not change.existed else logging.INFO
    return level, f"{what}; {counted.get(change.keys, f'{change.keys} keys accepted')}"
