"""The web map in a real browser (issue 6): sign in, see the Al-Malikiyah conflicts as the
API gives them, draw and upload a movement, check it and submit it, answer a notification
in one party's browser and watch the other party's page change live, replay an alert and
acknowledge it, use the tables with the keyboard alone, export a screenshot, and never
make a request to any host but the service itself."""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import Browser, expect

from ui.conftest import Demo
from ui.pages import signed_in, utc


def iso(t_s: float) -> str:
    return datetime.fromtimestamp(t_s, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def api_conflicts(demo: Demo, party: str) -> list[dict[str, Any]]:
    """Every conflict `party` may know of, through the API, deduplicated as the page does."""
    p = demo[party]
    seen: dict[tuple[str, str, str], dict[str, Any]] = {}
    for scope in ("own", "visible"):
        for item in p.get("/v1/declarations", params={"scope": scope}).json()["items"]:
            ref = item["declaration"]
            doc = p.get(f"/v1/declarations/{ref['party']}/{ref['id']}").json()
            for c in doc["conflicts"]:
                seen[(f"{c['party_a']}/{c['a']}", f"{c['party_b']}/{c['b']}", c["start"])] = c
    return sorted(seen.values(), key=lambda c: (c["start"], c["a"]))


def test_sign_in_shows_the_al_malikiyah_plans_and_conflicts_of_the_api(
    browser: Browser, demo: Demo
) -> None:
    expected = api_conflicts(demo, "US-CJTF")
    assert len(expected) == 7  # the README's demo: 7 conflicts between the two forces
    with signed_in(browser, demo.server.url, demo["US-CJTF"].token) as mp:
        page = mp.page
        expect(page.locator("#who")).to_have_text("US-CJTF (force)")
        expect(page.locator("#n-conflicts")).to_have_text("(7)")
        mp.tab("conflicts")
        rows = page.locator("#panel-conflicts tbody tr")
        expect(rows).to_have_count(len(expected))
        for row, c in zip(rows.all(), expected, strict=True):
            mine, theirs = (
                (c["a"], f"{c['party_b']}/{c['b']}")
                if c["party_a"] == "US-CJTF"
                else (c["b"], f"{c['party_a']}/{c['a']}")
            )
            cells = row.locator("td")
            expect(cells.nth(0)).to_contain_text(utc(c["start"]))
            expect(cells.nth(0)).to_contain_text(utc(c["end"])[11:])
            expect(cells.nth(1)).to_have_text(mine)
            expect(cells.nth(2)).to_have_text(theirs)
            lon, lat = c["at"]
            expect(cells.nth(4)).to_have_text(f"{lon:.4f}, {lat:.4f}")
        # The plans: US-CJTF's five, and the two RU-FORCES routes it conflicts with, as
        # portions ("conflict"), never RU-FORCES' base.
        mp.tab("plans")
        plans = page.locator("#panel-plans tbody tr")
        expect(plans).to_have_count(7)
        keys = sorted(plans.evaluate_all("rows => rows.map(r => r.dataset.key)"))
        assert keys == sorted(
            [f"US-CJTF/{f['properties']['id']}" for f in demo.plans["US-CJTF"]["features"]]
            + ["RU-FORCES/heli-escort-0825", "RU-FORCES/mp-patrol-0825"]
        )
        expect(
            page.locator('#panel-plans tr[data-key="RU-FORCES/mp-patrol-0825"]')
        ).to_contain_text("conflict")
        # The basemap is drawn and names places (canvas labels, GeoNames).
        assert page.evaluate("window.deconflict.places") > 0
        assert not mp.errors, mp.errors


def test_the_page_requests_nothing_from_any_other_host(browser: Browser, demo: Demo) -> None:
    r = httpx.get(demo.server.url + "/")
    csp = r.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "connect-src 'self';" in csp, csp
    assert "http" not in csp, "no other origin is allowed without ui_tile_url"
    with signed_in(browser, demo.server.url, demo["US-CJTF"].token) as mp:
        mp.page.mouse.move(400, 300)
        mp.page.mouse.wheel(0, -600)  # zoom in: more of the basemap drawn
        expect(mp.page.locator("body")).to_have_attribute("data-idle", re.compile(r"[2-9]|\d\d"))
        mp.tab("inbox")
        mp.tab("alerts")
        assert len(mp.requests) > 10
        assert mp.foreign(demo.server.url) == []
        assert not any("token" in u or "dcf_" in u for u in mp.requests), "a token in a URL"
        assert not mp.errors, mp.errors


def test_draw_check_and_submit_a_movement(browser: Browser, demo: Demo) -> None:
    us = demo["US-CJTF"]
    patrol = next(
        f for f in demo.plans["RU-FORCES"]["features"] if f["properties"]["id"] == "mp-patrol-0825"
    )
    mid = len(patrol["geometry"]["coordinates"]) // 2
    (lon0, lat0), (lon1, lat1) = (
        patrol["geometry"]["coordinates"][mid - 1][:2],
        patrol["geometry"]["coordinates"][mid][:2],
    )
    t_mid = patrol["properties"]["times"][mid - 1]
    with signed_in(browser, demo.server.url, us.token) as mp:
        page = mp.page
        mp.tab("draft")
        page.fill("#draft-id", "ui-drawn-1")
        page.fill("#draft-departure", utc(t_mid))
        page.locator("#draft-departure").dispatch_event("change")
        page.fill("#draft-speed", "30")
        page.locator("#draft-speed").dispatch_event("change")
        # One waypoint typed, one clicked on the map: across the RU-FORCES patrol's leg.
        page.fill("#wp-lon", str(lon0 - 0.004))
        page.fill("#wp-lat", str(lat0 - 0.004))
        page.click("#wp-add")
        page.click("#draft-draw")
        box = page.locator("#map").bounding_box()
        assert box is not None
        point = page.evaluate(f"window.deconflict.project([{lon1 + 0.004}, {lat1 + 0.004}])")
        page.mouse.click(box["x"] + point[0], box["y"] + point[1])
        expect(page.locator("#panel-draft tbody tr")).to_have_count(2)
        page.click("#draft-draw")
        page.click("#draft-check")
        expect(page.locator("#draft-note")).to_contain_text("only on submission")
        # What the page shows is what the API says of the same draft.
        times = page.locator("#panel-draft tbody tr td:nth-child(3) input").evaluate_all(
            "xs => xs.map(x => x.value)"
        )
        coords = page.evaluate("window.deconflict.draft()")
        draft = {
            "type": "Feature",
            "geometry": {"type": "LineString", "coordinates": coords},
            "properties": {
                "id": "ui-drawn-1",
                "party": "US-CJTF",
                "kind": "movement",
                "times": [t.replace(" ", "T") for t in times],
                "buffer_m": 0,
                "time_uncertainty_s": 0,
            },
        }
        preview = us.post("/v1/declarations/check", json=draft).json()["declarations"][0]
        assert preview["conflicts"], "the drawn route crosses the patrol while it passes"
        rows = page.locator("#panel-draft tr.draft-conflict")
        expect(rows).to_have_count(len(preview["conflicts"]))
        theirs = {f"{c['party_a']}/{c['a']}" for c in preview["conflicts"]}
        assert "RU-FORCES/mp-patrol-0825" in theirs
        page.click("#draft-submit")
        expect(page.locator("#draft-message")).to_contain_text("Submitted. ui-drawn-1:")
        stored = us.get("/v1/declarations/US-CJTF/ui-drawn-1")
        assert stored.status_code == 200
        kept = stored.json()["features"][0]["geometry"]["coordinates"]
        assert len(kept) == 2 and all(
            abs(a - b) < 1e-9
            for p, q in zip(kept, coords, strict=True)
            for a, b in zip(p, q, strict=True)
        ), (kept, coords)
        mp.tab("plans")
        expect(page.locator('#panel-plans tr[data-key="US-CJTF/ui-drawn-1"]')).to_have_count(1)
        assert not mp.errors, mp.errors


def test_upload_a_geojson_movement_and_submit_it(
    browser: Browser, demo: Demo, tmp_path: Path
) -> None:
    us = demo["US-CJTF"]
    start = time.time() + 80 * 3600
    doc = {
        "type": "Feature",
        "geometry": {"type": "LineString", "coordinates": [[41.9, 37.1], [41.95, 37.12]]},
        "properties": {
            "id": "ui-uploaded-1",
            "party": "US-CJTF",
            "kind": "movement",
            "times": [iso(start), iso(start + 1800)],
        },
    }
    path = tmp_path / "convoy.geojson"
    path.write_text(json.dumps(doc))
    with signed_in(browser, demo.server.url, us.token) as mp:
        page = mp.page
        mp.tab("draft")
        page.set_input_files("#draft-file", str(path))
        expect(page.locator("#draft-message")).to_contain_text("convoy.geojson: 1 feature read")
        page.click("#draft-check")
        expect(page.locator("#draft-note")).to_be_visible()
        page.click("#draft-submit")
        expect(page.locator("#draft-message")).to_contain_text("Submitted. ui-uploaded-1:")
    assert us.get("/v1/declarations/US-CJTF/ui-uploaded-1").status_code == 200


def test_an_acknowledgement_in_one_browser_shows_live_in_the_other(
    browser: Browser, demo: Demo
) -> None:
    ru, us = demo["RU-FORCES"], demo["US-CJTF"]
    inbox = ru.get("/v1/inbox").json()["clearance"]
    target = next(n for n in inbox if n["declaration"]["id"] == "matv-block-0825")
    key = "US-CJTF/matv-block-0825"
    with signed_in(browser, demo.server.url, us.token) as owner:
        row = owner.page.locator(f'#panel-plans tr[data-key="{key}"]')
        expect(row.locator("td").nth(2)).to_have_text("notified")
        with signed_in(browser, demo.server.url, ru.token) as other:
            other.tab("inbox")
            line = other.page.locator(f'#panel-inbox tr[data-key="{key}"]')
            expect(line).to_contain_text("conflict")
            expect(line.locator(".countdown")).to_have_text(re.compile(r"^in \d+ (d|h)"))
            line.get_by_role("button", name=f"Acknowledge {key}").click()
            expect(line).to_have_count(0)  # answered: gone from the inbox
        # The owner's page heard it on its stream: no reload, no click.
        expect(row.locator("td").nth(2)).to_have_text("cleared")
    doc = us.get("/v1/declarations/US-CJTF/matv-block-0825").json()
    assert doc["clearance"]["state"] == "cleared"
    assert [r["answer"] for r in doc["clearance"]["responses"]] == ["acknowledge"]
    assert target["declaration"]["version"] == doc["declaration"]["version"]


def test_object_with_a_reason(browser: Browser, demo: Demo) -> None:
    ru = demo["RU-FORCES"]
    key = "US-CJTF/security-zone-rmelan"
    with signed_in(browser, demo.server.url, ru.token) as mp:
        mp.tab("inbox")
        line = mp.page.locator(f'#panel-inbox tr[data-key="{key}"]')
        line.get_by_role("button", name=f"Object to {key}").click()
        mp.page.get_by_label("Why you object to security-zone-rmelan").fill(
            "Our patrol route runs through it."
        )
        line.get_by_role("button", name="Send objection").click()
        expect(mp.page.locator("#announce")).to_have_text(f"Objection to {key} sent.")
    doc = demo["US-CJTF"].get(f"/v1/declarations/{key}").json()
    assert doc["clearance"]["responses"][-1]["reason"] == "Our patrol route runs through it."


def test_an_alert_arrives_live_and_is_replayed_and_acknowledged(
    browser: Browser, demo: Demo
) -> None:
    ru, us = demo["RU-FORCES"], demo["US-CJTF"]
    with signed_in(browser, demo.server.url, us.token) as mp:
        page = mp.page
        mp.tab("alerts")
        # Two units of the two forces 300 m apart, reporting each second.
        t0 = time.time() - 4
        for k in range(3):
            t = t0 + k
            r1 = us.post(
                "/v1/positions", json=[{"unit": "ui-us-1", "time": t, "lat": 37.05, "lon": 42.0}]
            )
            r2 = ru.post(
                "/v1/positions", json=[{"unit": "ui-ru-1", "time": t, "lat": 37.0527, "lon": 42.0}]
            )
            assert r1.status_code == r2.status_code == 200, (r1.text, r2.text)
        row = page.locator("#panel-alerts tr[data-alert]").filter(has_text="ui-us-1")
        expect(row.first).to_contain_text("Proximity")
        alert_id = row.first.get_attribute("data-alert")
        listed = {a["alert"]: a for a in us.get("/v1/alerts").json()["alerts"]}
        assert alert_id in listed
        a = listed[alert_id]
        assert set(a["units"]) == {"US-CJTF/ui-us-1", "RU-FORCES/ui-ru-1"}
        row.first.get_by_role("button").click()
        detail = page.locator("#alert-detail")
        expect(detail).to_contain_text("US-CJTF/ui-us-1")
        expect(detail).to_contain_text("RU-FORCES/ui-ru-1")
        # Replay: the map's time is the alert's.
        expect(page.locator("#t-out")).to_have_text(utc(a["cpa_time"] or a["time"]))
        page.click("#alert-ack")
        expect(detail).to_contain_text("Acknowledged by: US-CJTF at")
    after = {x["alert"]: x for x in us.get("/v1/alerts").json()["alerts"]}
    assert "US-CJTF" in after[alert_id]["acknowledged_by"]


def test_the_tables_work_with_the_keyboard_alone(browser: Browser, demo: Demo) -> None:
    expected = api_conflicts(demo, "US-CJTF")
    with signed_in(browser, demo.server.url, demo["US-CJTF"].token) as mp:
        page = mp.page
        page.keyboard.press("Tab")  # sign-in left focus at the top of the page
        expect(page.locator(".skip")).to_be_focused()
        page.keyboard.press("Enter")  # skip the map: to the tables
        page.keyboard.press("Tab")
        expect(page.locator("#tab-plans")).to_be_focused()
        page.keyboard.press("ArrowRight")
        expect(page.locator("#tab-conflicts")).to_be_focused()
        expect(page.locator("#tab-conflicts")).to_have_attribute("aria-selected", "true")
        page.keyboard.press("Tab")
        expect(page.locator("#panel-conflicts")).to_be_focused()
        page.keyboard.press("Tab")
        first = page.locator("#panel-conflicts tbody tr").first.get_by_role("button")
        expect(first).to_be_focused()
        page.keyboard.press("Enter")
        # The map moved to the conflict's start.
        expect(page.locator("#t-out")).to_have_text(utc(expected[0]["start"]))
        expect(page.locator("#announce")).to_contain_text("Conflict of")
        page.keyboard.press("Shift+Tab")
        page.keyboard.press("Shift+Tab")
        expect(page.locator("#tab-conflicts")).to_be_focused()
        page.keyboard.press("End")
        expect(page.locator("#tab-draft")).to_be_focused()
        expect(page.locator("#panel-draft")).to_be_visible()


def test_readable_on_a_laptop_and_on_tablets(browser: Browser, demo: Demo) -> None:
    token = demo["US-CJTF"].token
    for size in (
        {"width": 1280, "height": 720},
        {"width": 1024, "height": 768},
        {"width": 820, "height": 1180},
    ):
        with signed_in(browser, demo.server.url, token, viewport=size) as mp:
            page = mp.page
            overflow = page.evaluate("document.documentElement.scrollWidth - innerWidth")
            assert overflow <= 0, (size, overflow)
            m = page.locator("#map").bounding_box()
            side = page.locator("#side").bounding_box()
            assert m is not None and side is not None
            assert m["width"] >= 400 and m["height"] >= 300, (size, m)
            if size["width"] < 900:
                assert side["y"] >= m["y"] + m["height"] - 1, "tables under the map"
            else:
                assert side["x"] >= m["x"] + m["width"] - 1, "tables beside the map"
            font = page.evaluate("getComputedStyle(document.querySelector('table.grid')).fontSize")
            assert float(font.removesuffix("px")) >= 12


def test_export_a_png_of_the_view(browser: Browser, demo: Demo) -> None:
    with signed_in(browser, demo.server.url, demo["US-CJTF"].token) as mp:
        with mp.page.expect_download() as got:
            mp.page.click("#export")
        path = got.value.path()
        data = Path(path).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n"
        assert len(data) > 20_000  # a drawn map, not a blank canvas
        assert got.value.suggested_filename.startswith("deconflict-US-CJTF-")
