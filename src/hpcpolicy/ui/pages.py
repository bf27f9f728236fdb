"""What every dashboard page shares: the signed-in viewer, template rendering, security headers, and HTML
answers to the errors the API answers with problem details.

Routes are declared on :func:`router`s whose route class is :class:`PageRoute`: it sends the browser to
the sign-in page when the credential no longer proves anyone, turns a refused or failed request into a
page that says so (403, 404, 400, 503, 500; never a stack trace), and puts the security headers on every
answer: a Content-Security-Policy that allows nothing but this server's own stylesheet (no script, no
inline style, no frames), ``X-Frame-Options: DENY``, ``Referrer-Policy: same-origin``, ``nosniff`` and
``Cache-Control: no-store`` on pages (they hold account data).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, TypeVar
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from starlette.concurrency import run_in_threadpool
from starlette.responses import HTMLResponse, RedirectResponse, Response

from hpcpolicy.api.deps import Offload
from hpcpolicy.auth import Authenticator, AuthError, Caller, Forbidden, Unauthenticated
from hpcpolicy.engine.snapshot import PolicySnapshot
from hpcpolicy.ledger.base import LedgerUnavailable
from hpcpolicy.service import Governance, ServiceError
from hpcpolicy.service.viewer import Viewer
from hpcpolicy.ui import budgets, formats, session
from hpcpolicy.ui.static import STYLESHEET

log = logging.getLogger("hpcpolicy.ui")
T = TypeVar("T")

CSP = ("default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; base-uri 'none'; "
       "frame-ancestors 'none'")  # fmt: skip
HEADERS = {
    "content-security-policy": CSP,
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",
    "x-content-type-options": "nosniff",
}

TEMPLATES = Environment(
    loader=PackageLoader("hpcpolicy.ui", "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
TEMPLATES.filters.update(formats.FILTERS)
TEMPLATES.globals.update(attention=budgets.attention, bar=budgets.metric_bar, quota_name=budgets.quota_name)


@dataclass(frozen=True, slots=True)
class Page:
    """One page request: who reads it, the service, the time it is rendered for."""

    request: Request
    gov: Governance
    who: Caller
    viewer: Viewer
    now: datetime
    offload: Offload
    dev_mode: bool

    @property
    def snapshot(self) -> PolicySnapshot:
        return self.gov.ctx.policies.current.snapshot

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """A service call on the executor of long reads (with its time budget), off the event loop: pages
        only read, and on SQLite the decisions' one ledger thread must not wait for a page's reading."""
        return await self.offload(fn, *args)

    async def render(self, template: str, status: int = 200, **context: Any) -> HTMLResponse:
        return await render(self.request, template, status, page=self, **context)


async def render(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    """Render off the event loop (a 2,000-row overview takes tens of milliseconds)."""
    context.setdefault("page", None)
    html = await run_in_threadpool(TEMPLATES.get_template(template).render, stylesheet=STYLESHEET, **context)
    return HTMLResponse(html, status, headers={"cache-control": "no-store"})


async def current_page(request: Request) -> Page:
    authenticator: Authenticator = request.app.state.authenticator
    who = session.caller_of(request, authenticator)
    request.state.caller = who.principal
    gov: Governance = request.app.state.governance
    viewer = Viewer.of(who)
    request.state.viewer = viewer
    return Page(request, gov, who, viewer, gov.ctx.clock(), request.app.state.reads, authenticator.dev_mode)


PageDep = Annotated[Page, Depends(current_page)]


class PageRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            try:
                response = await handle(request)
            except Unauthenticated:
                response = to_login(request)
            except Exception as exc:
                response = await error_page(request, exc)
            protect(response)
            return response

        return guarded


def router() -> APIRouter:
    return APIRouter(route_class=PageRoute)


def protect(response: Response) -> None:
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)


def to_login(request: Request) -> Response:
    """To the sign-in page, coming back here afterwards; a credential that stopped working is forgotten."""
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    had = session.COOKIE in request.cookies
    response = RedirectResponse(f"/ui/login?next={quote(target, safe='')}" + ("&ended=1" if had else ""), 303)
    if had:
        session.forget(response, secure=session.secure_cookie(request, request.app.state.ui_secure_cookies))
    return response


async def error_page(request: Request, exc: Exception) -> Response:
    status, title, detail = _explain(exc)
    if status >= 500:
        log.error("dashboard page failed: %s", exc, exc_info=not isinstance(exc, LedgerUnavailable))
    viewer = getattr(request.state, "viewer", None)
    return await render(request, "error.html", status, viewer=viewer, title=title, detail=detail, code=status)


def _explain(exc: Exception) -> tuple[int, str, str]:
    if isinstance(exc, Forbidden):
        return 403, "Not yours to see", exc.detail
    if isinstance(exc, AuthError):
        return exc.status, exc.title, exc.detail
    if isinstance(exc, ServiceError):
        status = 400 if exc.status == 422 else exc.status
        return status, exc.title.capitalize(), exc.detail
    if isinstance(exc, RequestValidationError):
        fields = "; ".join(f"{'.'.join(str(p) for p in e['loc'][1:])}: {e['msg']}" for e in exc.errors())
        return 400, "Invalid request", fields
    if isinstance(exc, LedgerUnavailable):
        return 503, "Governance unavailable", "The ledger database cannot be reached; try again shortly."
    return 500, "Something went wrong", "The page could not be made; the server log says why."

