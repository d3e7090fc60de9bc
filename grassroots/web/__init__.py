"""The web page planners open (``/``): an org chart with its gaps, a coverage dashboard, a
place's links, in Chinese, offline.

It is static files and nothing else: the page reads the server only through the public
GraphQL API at ``/graphql``, as any front-end would, so it sees exactly what the caller's
token sees (its subtrees, its masking). Everything it loads ships in this package
(``static/``, the one library, Apache ECharts, bundled by ``make web-vendor``): no CDN, no
web font, nothing fetched from the internet at run time.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

STATIC = Path(__file__).parent / "static"


def mount(app: FastAPI) -> None:
    """Serve the page at ``/`` and its files under ``/static``."""

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        # the page's own views live in its URL's fragment (#/chart?...): one document
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
