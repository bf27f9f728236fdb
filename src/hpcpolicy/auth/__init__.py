"""Who is calling: verified identities for every ``/v1`` call (zero trust), framework-free.

``Authenticator(AuthSettings()).resolve(authorization, x_api_key)`` returns a :class:`Caller` or raises
:class:`Unauthenticated` (401) / :class:`Forbidden` (403), both :class:`AuthError` with ``status`` and
``title``. ``Caller.identity_for`` decides whose budget a request may spend, with which roles and groups
(422 :class:`IdentityRequired` when a caller that speaks for users names none); ``Caller.principal`` is
what records store.
"""

from hpcpolicy.auth.apikeys import ApiKeyRecord, generate_key, hash_key
from hpcpolicy.auth.caller import (
    DEV_CALLER,
    SCOPE_ADMIN,
    SCOPE_DECIDE,
    SCOPE_REPORT,
    Caller,
    CallerKind,
    Identity,
    require_admin,
    require_reporter,
    require_scope,
)
from hpcpolicy.auth.errors import (
    AuthConfigError,
    AuthError,
    Forbidden,
    IdentityRequired,
    KeysFileError,
    Unauthenticated,
)
from hpcpolicy.auth.keysfile import KeyStore, create_key, load_env_keys, load_keys_file, revoke_key
from hpcpolicy.auth.resolve import Authenticator
from hpcpolicy.auth.settings import AuthSettings
from hpcpolicy.auth.tokens import JwtVerifier

__all__ = [
    "DEV_CALLER",
    "SCOPE_ADMIN",
    "SCOPE_DECIDE",
    "SCOPE_REPORT",
    "ApiKeyRecord",
    "AuthConfigError",
    "AuthError",
    "AuthSettings",
    "Authenticator",
    "Caller",
    "CallerKind",
    "Forbidden",
    "Identity",
    "IdentityRequired",
    "JwtVerifier",
    "KeyStore",
    "KeysFileError",
    "Unauthenticated",
    "create_key",
    "generate_key",
    "hash_key",
    "load_env_keys",
    "load_keys_file",
    "require_admin",
    "require_reporter",
    "require_scope",
    "revoke_key",
]
