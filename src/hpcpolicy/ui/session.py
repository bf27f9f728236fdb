"""Signing in to the dashboard with the API's own credentials, kept in a cookie and verified on every page.

The cookie holds the credential itself (a JWT or an API key), ``HttpOnly`` (no script reads it),
``SameSite=Strict`` (no other site's page makes the browser send it), ``Path=/ui`` (the API never sees it
as a cookie) and ``Secure`` over https or when the operator says the dashboard is served behind TLS.
There is no server-side session: each page passes the cookie to the same
:class:`~hpcpolicy.auth.Authenticator` as the API's ``Authorization`` header, so a revoked key or an
expired token ends the sign-in at the next page, and a token's roles and groups are re-read each time.
Without a cookie a page accepts the API's headers (``curl -H 'X-API-Key: ...'``); in dev mode (no
credentials configured, loopback only) everyone is the dev admin, as on the API.

State-changing requests (sign-in, sign-out) must come from a page of this server: their ``Origin`` (or,
failing that, ``Referer``) must name this host, else they are refused (login CSRF included).
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response

from hpcpolicy.auth import Authenticator, Caller

COOKIE = "hpcpolicy_session"
PATH = "/ui"
#: A JWT with many groups is a few kilobytes; browsers keep cookies up to 4096 bytes.
MAX_CREDENTIAL = 4000
_CREDENTIAL = re.compile(r"[A-Za-z0-9._~+/=-]+")
_NEXT = re.compile(r"/ui(/[A-Za-z0-9._~:@%/+=&?-]*)?")


def caller_of(request: Request, authenticator: Authenticator) -> Caller:
    """The verified caller of a page: the cookie's credential, else the API's headers. Raises
    :class:`~hpcpolicy.auth.Unauthenticated` when neither proves anyone (and not in dev mode)."""
    credential = request.cookies.get(COOKIE)
    if credential:
        return authenticator.resolve(f"Bearer {credential}", None)
    return authenticator.resolve(request.headers.get("authorization"), request.headers.get("x-api-key"))


def credential_problem(credential: str) -> str | None:
    """Why ``credential`` cannot be a token or key at all (checked before it is verified), or None."""
    if not credential:
        return "enter a token or an API key"
    if len(credential) > MAX_CREDENTIAL or not _CREDENTIAL.fullmatch(credential):
        return "that is not a token or an API key"
    return None


def keep(response: Response, credential: str, *, secure: bool) -> None:
    """Set the session cookie (for as long as the browser runs: the credential's own expiry still rules)."""
    response.set_cookie(COOKIE, credential, path=PATH, httponly=True, samesite="strict", secure=secure)


def forget(response: Response, *, secure: bool) -> None:
    response.delete_cookie(COOKIE, path=PATH, httponly=True, samesite="strict", secure=secure)


def secure_cookie(request: Request, always: bool) -> bool:
    return always or request.url.scheme == "https"


def same_origin(request: Request) -> bool:
    """Whether a state-changing request comes from this server's own pages (Origin, else Referer)."""
    host = request.headers.get("host")
    source = request.headers.get("origin") or request.headers.get("referer")
    if not host or not source or source == "null":
        return False
    try:
        return urlsplit(source).netloc == host
    except ValueError:
        return False


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a dashboard path (never another site, never ``//``), else the overview."""
    if target and _NEXT.fullmatch(target) and "//" not in target and "\\" not in target:
        return target
    return "/ui/"
