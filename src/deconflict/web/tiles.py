"""The optional XYZ tile URL of the web map (setting `ui_tile_url`): checked once, when
the settings are made, so a typo is refused at start rather than shown as a blank map."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

_PLACEHOLDER = re.compile(r"\{[^}]*\}")


def check_tile_url(url: str) -> str:
    """The origin (`scheme://host[:port]`) of a valid tile URL template; ValueError naming
    the fix otherwise. The template is an http(s) URL with `{z}`, `{x}` and `{y}` and no
    other placeholder, no quote, space or angle bracket (it goes into a CSP header)."""
    if len(url) > 2000:
        raise ValueError("ui_tile_url must be at most 2,000 characters")
    if any(c in url for c in "\"'<>\\ \t\r\n;,") or not url.isprintable():
        raise ValueError(
            "ui_tile_url must not hold quotes, spaces, commas, semicolons or angle brackets"
        )
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(
            f"ui_tile_url must be an http:// or https:// URL with a host, not {url[:60]!r}"
        )
    if parts.username or parts.password:
        raise ValueError("ui_tile_url must not carry a user name or password")
    found = sorted(set(_PLACEHOLDER.findall(url)))
    if found != ["{x}", "{y}", "{z}"]:
        raise ValueError(
            "ui_tile_url must hold exactly the placeholders {z}, {x} and {y}, "
            f"not {', '.join(found) or 'none'}"
        )
    if "{" in _PLACEHOLDER.sub("", url) or "}" in _PLACEHOLDER.sub("", url):
        raise ValueError("ui_tile_url has an unmatched brace")
    try:
        port = parts.port
    except ValueError:
        raise ValueError("ui_tile_url has a port that is not a number from 0 to 65535") from None
    host = parts.hostname
    if ":" in host:
        host = f"[{host}]"
    return f"{parts.scheme}://{host}" + (f":{port}" if port is not None else "")
