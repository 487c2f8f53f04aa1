"""Serving the web map: `/` is the page (no token needed to load it; every API call it
makes carries the party's token), `/ui/...` its built assets. The page names the tile
URL the deployment configured in a meta tag, and its Content-Security-Policy allows this
origin alone, plus that tile server."""

from __future__ import annotations

import html
from importlib import resources
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import HTMLResponse, PlainTextResponse
from fastapi.staticfiles import StaticFiles

from deconflict.web.tiles import check_tile_url

STATIC = Path(str(resources.files(__package__).joinpath("static")))
"""Built by `make web` (web/build.mjs); committed, so `pip install` alone serves the UI."""

MISSING = (
    "The web map is not built in this installation; run `make web` in the source tree, "
    "or use the API at /docs."
)


def content_security_policy(tile_url: str) -> str:
    """The page's policy: everything from this origin only; map tiles also from the
    configured tile server. MapLibre's worker is a module script served from here
    (`worker-src 'self'`), its styles are set through the CSSOM (no inline style
    attribute), and the basemap's labels are drawn on a canvas with system fonts, so no
    glyph, sprite or font is ever fetched."""
    tiles = f" {check_tile_url(tile_url)}" if tile_url else ""
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            "worker-src 'self'",
            f"img-src 'self' data: blob:{tiles}",
            f"connect-src 'self'{tiles}",
            "font-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


def page(tile_url: str) -> str | None:
    """index.html with the tile URL in its meta tag; None when the UI is not built."""
    index = STATIC / "index.html"
    if not index.is_file():
        return None
    text = index.read_text(encoding="utf-8")
    return text.replace(
        'name="deconflict-tile-url" content=""',
        f'name="deconflict-tile-url" content="{html.escape(tile_url, quote=True)}"',
    )


def install(app: FastAPI, tile_url: str) -> None:
    """Serve the page at `/` and its assets under `/ui/`."""
    headers = {
        "Content-Security-Policy": content_security_policy(tile_url),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-cache",
        "X-Frame-Options": "DENY",
    }
    body = page(tile_url)

    @app.get("/", include_in_schema=False, response_model=None)
    async def root() -> HTMLResponse | PlainTextResponse:
        if body is None:
            return PlainTextResponse(MISSING, status_code=404)
        return HTMLResponse(body, headers=headers)

    if STATIC.is_dir():
        app.mount("/ui", StaticFiles(directory=STATIC), name="ui")
