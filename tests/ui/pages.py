"""Helpers for the browser tests: open the map signed in as a party, in its own browser
context (its own sessionStorage), recording every request the page makes."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from playwright.sync_api import Browser, Page, expect

TIMEOUT_MS = 20_000
_ANY = re.compile(r"\d+")


def utc(text: str) -> str:
    """An API time as the page writes it: '2026-05-01 09:30:00Z', seconds kept."""
    t = datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)
    return t.strftime("%Y-%m-%d %H:%M:%SZ")


@dataclass
class MapPage:
    page: Page
    requests: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def tab(self, name: str) -> None:
        self.page.click(f"#tab-{name}")
        expect(self.page.locator(f"#panel-{name}")).to_be_visible()

    def foreign(self, origin: str) -> list[str]:
        """Requests to anywhere but `origin` (data: and blob: URLs never leave the page)."""
        want = urlsplit(origin).netloc
        return [
            u
            for u in self.requests
            if urlsplit(u).scheme not in ("data", "blob") and urlsplit(u).netloc != want
        ]


@contextmanager
def signed_in(
    browser: Browser, url: str, token: str, viewport: dict[str, int] | None = None, **kw: Any
) -> Iterator[MapPage]:
    context = browser.new_context(
        viewport=viewport or {"width": 1280, "height": 720}, accept_downloads=True, **kw
    )
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    mp = MapPage(page)
    page.on("request", lambda r: mp.requests.append(r.url))
    page.on("pageerror", lambda e: mp.errors.append(str(e)))
    page.on(
        "console",
        lambda m: mp.errors.append(m.text) if m.type == "error" else None,
    )
    try:
        page.goto(url + "/")
        page.fill("#token", token)
        page.click("#signin-form button[type=submit]")
        # The page marks itself ready after its first load, and idle once the map drew
        # (attributes, not a JS predicate: the page's CSP forbids eval).
        expect(page.locator("body")).to_have_attribute("data-ready", "1")
        expect(page.locator("body")).to_have_attribute("data-idle", _ANY)
        expect(page.locator("#link")).to_have_text("Live")
        yield mp
    finally:
        context.close()
