"""The dashboard's one stylesheet, served by the service itself (no CDN, no external font) under a URL
that names its content's hash, so browsers may keep it for a year and still get a new one after an upgrade."""

from __future__ import annotations

import hashlib
from importlib.resources import files

from fastapi import APIRouter
from starlette.responses import Response

CSS = (files("hpcpolicy.ui") / "static" / "dashboard.css").read_bytes()
VERSION = hashlib.sha256(CSS).hexdigest()[:12]
STYLESHEET = f"/ui/static/dashboard.css?v={VERSION}"

router = APIRouter()


@router.get("/static/dashboard.css", include_in_schema=False)
async def stylesheet() -> Response:
    headers = {"cache-control": "public, max-age=31536000, immutable", "etag": f'"{VERSION}"',
               "x-content-type-options": "nosniff"}  # fmt: skip
    return Response(CSS, media_type="text/css", headers=headers)
