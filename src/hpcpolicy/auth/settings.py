"""Authentication settings from the environment (``HPCPOLICY_*``).

Nothing configured means dev mode: every request is the dev caller, and the server must bind to
loopback only; a ``keys.yaml`` in the data directory turns authentication on for as long as it exists
(see :class:`hpcpolicy.auth.Authenticator`). Configuring any credential source (a keys file path, even
one that does not exist yet, ``HPCPOLICY_API_KEYS``, a JWT secret or public key) turns authentication on
for good and fails closed.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_KEYS_FILE = "keys.yaml"


class AuthSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HPCPOLICY_", extra="ignore")

    keys_file: Path | None = None
    """YAML/JSON file of hashed API keys (``HPCPOLICY_KEYS_FILE``), re-read when it changes."""
    api_keys: str | None = None
    """JSON list of key records, same shape as the file's (``HPCPOLICY_API_KEYS``); hashes, never plaintext."""
    jwt_secret: SecretStr | None = None
    """Shared HMAC secret for HS256/384/512 tokens, at least 32 bytes (``HPCPOLICY_JWT_SECRET``)."""
    jwt_public_key: str | None = None
    """PEM public key or certificate, as text or a file path, for RS*/PS*/ES*/EdDSA tokens."""
    jwt_algorithms: tuple[str, ...] | str = ()
    """Accepted algorithms, comma/space separated or a JSON list; empty: inferred from the key(s)."""
    jwt_issuer: str | None = None
    jwt_audience: str | None = None
    jwt_user_claim: str = "sub"
    jwt_roles_claim: str = "roles"
    """A claim name, or a dotted path into nested claims (``realm_access.roles``)."""
    jwt_groups_claim: str | None = "groups"
    """The user's groups (policy ``groups.<g>``: roles and, in v2, project memberships); a name or dotted
    path. Set it empty to take no groups from tokens."""
    jwt_admin_role: str = "hpc_admin"
    jwt_leeway_seconds: float = Field(default=30.0, ge=0, le=3600)

    @field_validator("jwt_algorithms", mode="before")
    @classmethod
    def _split_algorithms(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(part for part in value.replace(",", " ").split() if part)
        if isinstance(value, list):
            return tuple(value)
        return value

    @field_validator(
        "keys_file", "api_keys", "jwt_public_key", "jwt_issuer", "jwt_audience", "jwt_groups_claim", mode="before"
    )
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        """``HPCPOLICY_JWT_ISSUER=`` in an env file means "not set", not "the empty issuer"."""
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("jwt_secret", mode="before")
    @classmethod
    def _blank_secret_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value else value

    @property
    def algorithms(self) -> tuple[str, ...]:
        value = self.jwt_algorithms
        return (value,) if isinstance(value, str) else value

    @property
    def api_keys_configured(self) -> bool:
        return self.keys_file is not None or self.api_keys is not None

    @property
    def jwt_configured(self) -> bool:
        return self.jwt_secret is not None or self.jwt_public_key is not None

    def keys_file_or(self, data_dir: Path) -> Path:
        """Where ``hpcpolicy keys`` writes and ``serve`` reads: ``HPCPOLICY_KEYS_FILE``, else the data dir's."""
        return self.keys_file if self.keys_file is not None else data_dir / DEFAULT_KEYS_FILE

    @property
    def configured(self) -> bool:
        """Any credential source set in the environment. False means dev mode unless a keys file appears."""
        return self.api_keys_configured or self.jwt_configured
