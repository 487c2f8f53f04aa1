"""Screenshots of the web map's main views for the docs (docs/screenshots/*.png), taken
with Debian's Chromium against a real server loaded with the Al-Malikiyah scenario, as the
browser tests do. Run from the repository root: `.venv/bin/python web/screenshots.py`."""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from playwright.sync_api import expect, sync_playwright  # noqa: E402

from api.server import Server, scenario_plans  # noqa: E402
from ui.conftest import ARGS, CHROMIUM, ORDER  # noqa: E402
from ui.pages import signed_in  # noqa: E402

OUT = ROOT / "docs" / "screenshots"


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        s = Server(Path(tmp) / "deconflict.sqlite").start()
        try:
            kinds, plans = scenario_plans("al-malikiyah-2020", time.time() + 72 * 3600)
            parties = {name: s.add_party(name, kinds[name]) for name in ORDER}
            for name in ORDER:
                assert parties[name].post("/v1/declarations", json=plans[name]).status_code == 201
            us, ru = parties["US-CJTF"], parties["RU-FORCES"]
            with sync_playwright() as p:
                b = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
                with signed_in(b, s.url, us.token) as mp:
                    page = mp.page
                    page.wait_for_timeout(500)
                    page.screenshot(path=str(OUT / "map-plans.png"))
                    mp.tab("conflicts")
                    page.locator("#panel-conflicts tbody tr").nth(2).get_by_role("button").click()
                    page.wait_for_timeout(1200)
                    page.screenshot(path=str(OUT / "map-conflicts.png"))
                with signed_in(b, s.url, ru.token) as mp:
                    mp.tab("inbox")
                    mp.page.wait_for_timeout(300)
                    mp.page.screenshot(path=str(OUT / "inbox.png"))
                with signed_in(b, s.url, us.token) as mp:
                    page = mp.page
                    patrol = plans["RU-FORCES"]["features"][0]
                    (x0, y0), (x1, y1) = (c[:2] for c in patrol["geometry"]["coordinates"][1:3])
                    mp.tab("draft")
                    page.fill("#draft-id", "convoy-0826")
                    page.fill(
                        "#draft-departure", patrol["properties"]["times"][1].replace("T", " ")
                    )
                    page.locator("#draft-departure").dispatch_event("change")
                    for lon, lat in ((x0 - 0.01, y0 - 0.01), (x1 + 0.01, y1 + 0.01)):
                        page.fill("#wp-lon", f"{lon:.5f}")
                        page.fill("#wp-lat", f"{lat:.5f}")
                        page.click("#wp-add")
                    page.click("#draft-check")
                    expect(page.locator("#draft-note")).to_be_visible()
                    page.evaluate("window.deconflict.fitDraft()")
                    page.click("#legend summary")  # fold the key: the draft and its conflicts
                    page.locator("#draft-note").scroll_into_view_if_needed()
                    page.wait_for_timeout(1200)
                    page.screenshot(path=str(OUT / "draft-check.png"))
                with signed_in(b, s.url, us.token) as mp:
                    page = mp.page
                    mp.tab("alerts")
                    t0 = time.time() - 12
                    for k in range(3):
                        for party, unit, lat in ((us, "matv-1", 37.05), (ru, "patrol-1", 37.0527)):
                            report = {"unit": unit, "time": t0 + k, "lat": lat, "lon": 42.0}
                            party.post("/v1/positions", json=[report])
                    row = page.locator("#panel-alerts tr[data-alert]").first
                    expect(row).to_contain_text("Proximity")
                    row.get_by_role("button").click()
                    page.wait_for_timeout(800)
                    page.screenshot(path=str(OUT / "alert.png"))
                    # Both units drive east at about 20 m/s: their tracks, as US-CJTF sees them.
                    for k in range(3, 11):
                        for party, unit, lat in ((us, "matv-1", 37.05), (ru, "patrol-1", 37.0527)):
                            lon = 42.0 + 0.00025 * (k - 2)
                            report = {"unit": unit, "time": t0 + k, "lat": lat, "lon": lon}
                            party.post("/v1/positions", json=[report])
                    mp.tab("tracks")
                    row = page.locator('#panel-tracks tr[data-unit="RU-FORCES/patrol-1"]')
                    expect(row).to_contain_text("in an alert with you")
                    expect(row.locator("td").nth(5)).to_have_text("11")
                    row.get_by_role("button").click()
                    page.wait_for_timeout(1200)
                    page.screenshot(path=str(OUT / "tracks.png"))
                with signed_in(b, s.url, us.token, viewport={"width": 820, "height": 1180}) as mp:
                    mp.page.wait_for_timeout(800)
                    mp.page.screenshot(path=str(OUT / "tablet.png"))
                b.close()
        finally:
            s.close()
    for f in sorted(OUT.glob("*.png")):
        print(f.relative_to(ROOT), f.stat().st_size)


if __name__ == "__main__":
    main()
