"""The web dashboard at ``/ui``: server-rendered pages over the service layer, for people.

Pages: the overview (every budget the viewer may see, at risk first, with its forecast), a scope's page
(quotas, burn-down charts, open liens, top users, recent denials), the decision explorer and a decision's
rule text, the admission queue, the fair-share tree, and (admins) the policy with its revisions and diffs.
Sign-in takes the API's own credentials (:mod:`.session`); every page shows only what the same caller
could read through the API (:mod:`hpcpolicy.service.viewer`). No script, no CDN, no external font: Jinja2
templates (autoescaped), one stylesheet, charts as inline SVG (:mod:`.svg`). docs/dashboard.md has more.
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI

from hpcpolicy.service import NotFound
from hpcpolicy.ui import pages, static
from hpcpolicy.ui.routes import budgets, cluster, decisions, login, policy


def mount(app: FastAPI, *, secure_cookies: bool = False) -> None:
    """Serve the dashboard under ``/ui``; ``secure_cookies``: mark the session cookie ``Secure`` even on
    plain http (the dashboard is reached through a TLS-terminating proxy)."""
    app.state.ui_secure_cookies = secure_cookies
    router = APIRouter(prefix="/ui", include_in_schema=False)
    router.include_router(static.router)
    for module in (login, budgets, decisions, cluster, policy):
        router.include_router(module.router)
    router.include_router(_fallback)
    app.include_router(router)


_fallback = pages.router()


@_fallback.get("/{rest:path}", include_in_schema=False)
async def no_such_page(page: pages.PageDep, rest: str) -> None:
    raise NotFound("there is no such dashboard page")


__all__ = ["mount"]
