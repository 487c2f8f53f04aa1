"""Browser tests of the web map: Playwright driving Debian's Chromium (never a downloaded
browser) against a real `deconflict serve` on loopback, loaded with the Al-Malikiyah
scenario as `make demo` loads it (RU-FORCES declares first, so US-CJTF's conflicting plans
notify RU-FORCES). Without /usr/bin/chromium the tests skip, except under CI=true, where
they fail: CI installs it (.ci/run)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from api.server import Party, Server, scenario_plans

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-default-apps",
    "--disable-sync",
    "--no-first-run",
    "--no-default-browser-check",
    "--metrics-recording-only",
    # WebGL without a GPU: MapLibre draws through ANGLE's software renderer.
    "--use-angle=swiftshader",
    "--enable-unsafe-swiftshader",
]
ORDER = ("RU-FORCES", "US-CJTF")
"""Who declares first, as `make demo` does."""


def _on_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


@dataclass
class Demo:
    server: Server
    parties: dict[str, Party]
    plans: dict[str, dict[str, Any]]

    def __getitem__(self, name: str) -> Party:
        return self.parties[name]


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        if _on_ci():
            pytest.fail(f"{CHROMIUM} is missing; CI must install it (apt-get install chromium).")
        pytest.skip(f"{CHROMIUM} is missing: apt-get install chromium to run the browser tests")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture(scope="session")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    s = Server(tmp_path_factory.mktemp("ui") / "deconflict.sqlite").start()
    try:
        kinds, plans = scenario_plans("al-malikiyah-2020", time.time() + 72 * 3600)
        parties = {name: s.add_party(name, kinds[name]) for name in ORDER}
        for name in ORDER:
            r = parties[name].post("/v1/declarations", json=plans[name])
            assert r.status_code == 201, r.text
        yield Demo(s, parties, plans)
    finally:
        s.close()
