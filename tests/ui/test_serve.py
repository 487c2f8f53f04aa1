"""Serving the web map without a browser: the page, its Content-Security-Policy, and the
tile URL setting that widens it (docs/ui.md)."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from api.server import Server
from deconflict.errors import InvalidRequest
from deconflict.service.config import load_settings
from deconflict.web.serve import content_security_policy
from deconflict.web.tiles import check_tile_url


def test_the_page_and_its_assets_are_served_without_a_token_and_the_api_still_needs_one(
    tmp_path: Path,
) -> None:
    config = 'ui_tile_url = "https://tiles.example.org:8443/osm/{z}/{x}/{y}.png"\n'
    s = Server(tmp_path / "deconflict.sqlite", config=config).start()
    try:
        page = httpx.get(s.url + "/")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        csp = page.headers["content-security-policy"]
        assert "default-src 'self'" in csp and "worker-src 'self'" in csp
        assert "connect-src 'self' https://tiles.example.org:8443;" in csp
        assert 'content="https://tiles.example.org:8443/osm/{z}/{x}/{y}.png"' in page.text
        for asset in ("/ui/app.js", "/ui/maplibre-gl-worker.mjs", "/ui/data/places.json"):
            assert httpx.get(s.url + asset).status_code == 200, asset
        assert httpx.get(s.url + "/v1/me").status_code == 401
        assert httpx.get(s.url + "/openapi.json").status_code == 200
        assert httpx.get(s.url + "/docs").status_code == 200
    finally:
        s.close()


def test_without_a_tile_url_the_page_may_reach_its_own_origin_only() -> None:
    csp = content_security_policy("")
    assert "connect-src 'self';" in csp and "http" not in csp


@pytest.mark.parametrize(
    "url",
    [
        "ftp://tiles.example.org/{z}/{x}/{y}.png",
        "https://tiles.example.org/{z}/{x}.png",
        "https://tiles.example.org/{z}/{x}/{y}/{s}.png",
        "https://tiles.example.org/{z}/{x}/{y}.png'; script-src *",
        "https://user:pw@tiles.example.org/{z}/{x}/{y}.png",
        "https:///{z}/{x}/{y}.png",
        "https://tiles.example.org:99999/{z}/{x}/{y}.png",
    ],
)
def test_a_bad_tile_url_is_refused_at_start(tmp_path: Path, url: str) -> None:
    with pytest.raises(ValueError):
        check_tile_url(url)
    path = tmp_path / "settings.toml"
    path.write_text(f"ui_tile_url = {json.dumps(url)}\n")  # a JSON string is a TOML string
    with pytest.raises(InvalidRequest, match="ui_tile_url"):
        load_settings(path)


def test_a_good_tile_url_gives_its_origin() -> None:
    assert check_tile_url("http://10.0.0.5/{z}/{x}/{y}.png") == "http://10.0.0.5"
    assert check_tile_url("https://[::1]:8080/t/{z}/{y}/{x}") == "https://[::1]:8080"
