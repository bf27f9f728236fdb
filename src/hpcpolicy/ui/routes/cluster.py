"""``/ui/queue`` (held requests in admission order) and ``/ui/fairshare`` (the fair-share tree)."""

from __future__ import annotations

from starlette.responses import Response

from hpcpolicy.service import overview as views
from hpcpolicy.ui import pages

router = pages.router()


@router.get("/queue", include_in_schema=False)
async def queue(page: pages.PageDep) -> Response:
    rows = await page.run(views.waiting, page.gov, page.viewer)
    return await page.render("queue.html", section="queue", rows=rows)


@router.get("/fairshare", include_in_schema=False)
async def fairshare(page: pages.PageDep) -> Response:
    rows = await page.run(views.fair_tree, page.gov, page.viewer, page.now)
    return await page.render("fairshare.html", section="fairshare", rows=rows)
