"""``GET/POST /ui/login`` and ``POST /ui/logout``: sign in with a JWT or an API key (:mod:`..session`)."""

from __future__ import annotations

import logging
from typing import Annotated
from urllib.parse import parse_qs

from fastapi import Query, Request
from starlette.responses import RedirectResponse, Response

from hpcpolicy.auth import Authenticator, Forbidden, Unauthenticated
from hpcpolicy.ui import pages, session

router = pages.router()
log = logging.getLogger("hpcpolicy.ui")
#: What a failed sign-in says, whatever the reason: which part was wrong helps only someone guessing.
FAILED = "Sign-in failed: that token or key is not accepted here."


@router.get("/login", include_in_schema=False)
async def login_form(
    request: Request,
    next: Annotated[str | None, Query(max_length=2000)] = None,
    ended: Annotated[int, Query(ge=0, le=1)] = 0,
) -> Response:
    authenticator: Authenticator = request.app.state.authenticator
    if authenticator.dev_mode:
        return RedirectResponse(session.safe_next(next), 303)
    return await pages.render(request, "login.html", next=session.safe_next(next), ended=bool(ended), error=None)


@router.post("/login", include_in_schema=False)
async def login(request: Request) -> Response:
    if not session.same_origin(request):
        raise Forbidden("sign-in must come from this server's own sign-in page")
    form = parse_qs((await request.body()).decode("utf-8", errors="replace"), max_num_fields=10)
    credential = (form.get("credential") or [""])[0].strip()
    target = session.safe_next(next(iter(form.get("next", ())), None))
    problem = session.credential_problem(credential)
    authenticator: Authenticator = request.app.state.authenticator
    try:
        if problem is not None:
            raise Unauthenticated(problem)
        who = authenticator.resolve(f"Bearer {credential}", None)
    except Unauthenticated as exc:
        log.info("dashboard sign-in refused: %s", exc.detail)
        error = "Enter a token or an API key." if not credential else FAILED
        return await pages.render(request, "login.html", 401, next=target, ended=False, error=error)
    log.info("dashboard sign-in", extra={"caller": who.principal})
    response = RedirectResponse(target, 303)
    if not authenticator.dev_mode:
        session.keep(response, credential, secure=session.secure_cookie(request, request.app.state.ui_secure_cookies))
    return response


@router.post("/logout", include_in_schema=False)
async def logout(request: Request) -> Response:
    if not session.same_origin(request):
        raise Forbidden("sign-out must come from this server's own pages")
    response = RedirectResponse("/ui/login", 303)
    session.forget(response, secure=session.secure_cookie(request, request.app.state.ui_secure_cookies))
    return response
