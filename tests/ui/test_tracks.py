"""Live tracks on the map (issue 6): units of two forces report close together, the alert
opens, and both units' tracks appear on the first force's map and in its Tracks table,
live from the stream; a third party's unit, in no alert with it, never appears
(SPEC section 4 need-to-know, docs/api.md "Live tracks")."""

from __future__ import annotations

import re
import time

from playwright.sync_api import Browser, expect

from ui.conftest import Demo
from ui.pages import signed_in

US, RU, THIRD = "US-CJTF/ui-us-track", "RU-FORCES/ui-ru-track", "ui-third/ui-third-1"


def test_tracks_of_both_units_of_an_alert_appear_and_a_third_partys_never(
    browser: Browser, demo: Demo
) -> None:
    ru, us = demo["RU-FORCES"], demo["US-CJTF"]
    third = demo.server.add_party("ui-third", "force")
    with signed_in(browser, demo.server.url, us.token) as mp:
        page = mp.page
        mp.tab("tracks")
        t0 = time.time() - 4
        for k in range(3):
            t = t0 + k
            posted = [
                third.post(
                    "/v1/positions",
                    json=[{"unit": "ui-third-1", "time": t, "lat": 36.70, "lon": 41.60}],
                ),
                us.post(
                    "/v1/positions",
                    json=[{"unit": "ui-us-track", "time": t, "lat": 36.60, "lon": 41.60}],
                ),
                ru.post(
                    "/v1/positions",
                    json=[{"unit": "ui-ru-track", "time": t, "lat": 36.6027, "lon": 41.60}],
                ),
            ]
            assert all(r.status_code == 200 for r in posted), [r.text for r in posted]
        # The alert's event on the stream makes the page read the tracks again.
        ru_row = page.locator(f'#panel-tracks tr[data-unit="{RU}"]')
        expect(ru_row).to_have_count(1)
        expect(ru_row).to_contain_text("in an alert with you")
        us_row = page.locator(f'#panel-tracks tr[data-unit="{US}"]')
        expect(us_row).to_contain_text("yours")
        expect(us_row).to_contain_text("36.60000, 41.60000")
        expect(page.locator('#panel-tracks tr[data-unit^="ui-third/"]')).to_have_count(0)
        # On the map: choosing RU's unit shows the time of its last report, and both
        # tracks are drawn up to it.
        ru_row.get_by_role("button").click()
        expect(page.locator("#announce")).to_contain_text(f"Unit {RU}: last report at")
        drawn = page.locator("body")
        expect(drawn).to_have_attribute("data-tracks", re.compile(re.escape(RU)))
        expect(drawn).to_have_attribute("data-tracks", re.compile(re.escape(US)))
        assert "ui-third" not in (drawn.get_attribute("data-tracks") or "")
        # Replay: before the first report, no track is drawn.
        page.fill("#t", str(int((t0 - 60) * 1000)))
        page.dispatch_event("#t", "input")
        expect(drawn).not_to_have_attribute("data-tracks", re.compile("ui-(us|ru)-track"))
        assert not mp.errors, mp.errors
    seen = {f"{t['party']}/{t['unit']}" for t in us.get("/v1/tracks").json()["tracks"]}
    assert {US, RU} <= seen and THIRD not in seen
    named = {u for a in us.get("/v1/alerts").json()["alerts"] for u in a["units"]}
    assert THIRD not in named
    assert THIRD in {f"{t['party']}/{t['unit']}" for t in third.get("/v1/tracks").json()["tracks"]}
