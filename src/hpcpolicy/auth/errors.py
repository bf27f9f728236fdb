"""Authentication errors, each mapping to one HTTP status, and configuration errors, which map to none.

``AuthError``
 ├── ``Unauthenticated``   401: no credentials, or credentials that do not prove who the caller is
 ├── ``Forbidden``         403: a proven caller asking for something it may not do
 └── ``IdentityRequired``  422: a caller that speaks for users sent a request that names no user

Messages go back to the caller verbatim, so they say what was wrong with the credential and never
echo the secret part of it. ``AuthConfigError`` is the operator's problem (a bad keys file, a weak
secret): it is raised at start-up or on reload and is a server error, never a 401.
"""

from __future__ import annotations


class AuthError(Exception):
    status = 401
    title = "unauthenticated"

    def __init__(self, detail: str):
        super().__init__(detail)
        self.detail = detail


class Unauthenticated(AuthError):
    status = 401
    title = "unauthenticated"


class Forbidden(AuthError):
    status = 403
    title = "forbidden"


class IdentityRequired(AuthError):
    """A missing required field, not a missing right: the caller may decide for any user, but must say which."""

    status = 422
    title = "invalid request"


class AuthConfigError(ValueError):
    """Authentication is configured in a way that cannot work or is unsafe (names the setting or file)."""


class KeysFileError(AuthConfigError):
    """A keys file or ``HPCPOLICY_API_KEYS`` that cannot be read; the message names the source and entry."""
