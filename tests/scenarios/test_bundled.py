"""The bundled scenarios: well-formed files, honest metadata, and the conflicts they were built
to show (SPEC sections 2 and 3)."""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, datetime
from typing import Any

import pytest
import shapely
from pyproj import Geod

from deconflict.engine import Engine
from deconflict.errors import NotFound
from deconflict.ingest.geojson import load_declarations
from deconflict.model import Conflict, Crossing, Policy
from deconflict.scenarios import SCENARIOS, list_scenarios, scenario_path

GEOD = Geod(ellps="WGS84")
PARTY = re.compile(r"[A-Za-z0-9_-]{1,32}")
ISO_Z = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")

# A place each scenario is about, (lon, lat): every coordinate must lie near it. With
# latitude and longitude swapped, the points would land 100+ km away.
ANCHOR = {
    "al-malikiyah-2020": ((42.133, 37.167), 110_000),  # Al-Malikiyah (Derik)
    "aleppo-2016": ((37.167, 36.217), 90_000),  # Aleppo
}
AL_MALIKIYAH = (42.133, 37.167)
MABADA = (41.954, 37.004)
CASTELLO = (37.106, 36.2565)
MASAKEN_HANANO = (37.195, 36.230)


def dist_m(a: tuple[float, float] | list[float], b: tuple[float, float]) -> float:
    return float(GEOD.inv(a[0], a[1], b[0], b[1])[2])


def epoch(s: str) -> float:
    return datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()


def raw(name: str) -> dict[str, Any]:
    with open(scenario_path(name), encoding="utf-8") as f:
        doc: dict[str, Any] = json.load(f)
    return doc


def positions(geometry: dict[str, Any]) -> list[list[float]]:
    if geometry["type"] == "Point":
        return [geometry["coordinates"]]
    if geometry["type"] == "LineString":
        return list(geometry["coordinates"])
    return [p for ring in geometry["coordinates"] for p in ring]


# -- the module -------------------------------------------------------------------------


def test_list_scenarios_names_every_bundled_file() -> None:
    assert list_scenarios() == sorted(SCENARIOS) == ["al-malikiyah-2020", "aleppo-2016"]
    for name in list_scenarios():
        path = scenario_path(name)
        assert path.is_file(), path
        assert path.name == SCENARIOS[name]


def test_unknown_scenario_is_not_found_and_names_the_known_ones() -> None:
    with pytest.raises(NotFound) as err:
        scenario_path("srebrenica-1995")
    message = str(err.value)
    assert "srebrenica-1995" in message
    for name in list_scenarios():
        assert name in message


# -- the files, read as plain JSON ------------------------------------------------------


@pytest.mark.parametrize("name", list_scenarios())
def test_metadata_says_what_happened_and_where_it_comes_from(name: str) -> None:
    doc = raw(name)
    assert doc["type"] == "FeatureCollection"
    assert doc["name"] == name
    assert isinstance(doc["description"], str) and len(doc["description"]) > 200
    notes = doc["notes"].lower()
    assert "reconstructed" in notes and "not public" in notes  # says plainly what is made up
    assert doc["policy"] == {"horizontal_m": 1000, "vertical_m": 300}
    sources = doc["sources"]
    assert len(sources) >= 5
    for s in sources:
        assert set(s) >= {"title", "publisher", "date", "url"}, s
        assert all(isinstance(s[k], str) and s[k].strip() for k in s), s
        assert re.match(r"https?://[^\s/]+\.[^\s]+$", s["url"]), s["url"]
    assert len({s["url"] for s in sources}) == len(sources), "a source is listed twice"


@pytest.mark.parametrize("name", list_scenarios())
def test_every_feature_is_a_well_formed_declaration(name: str) -> None:
    doc = raw(name)
    anchor, reach_m = ANCHOR[name]
    keys = set()
    for i, feature in enumerate(doc["features"]):
        where = f"{name} feature {i}"
        assert feature["type"] == "Feature", where
        p = feature["properties"]
        g = feature["geometry"]
        assert isinstance(p["id"], str) and p["id"], where
        assert PARTY.fullmatch(p["party"]), where
        assert (p["party"], p["id"]) not in keys, f"{where}: duplicate id"
        keys.add((p["party"], p["id"]))
        assert p["kind"] in ("movement", "site", "zone"), where
        assert isinstance(p.get("name"), str) and isinstance(p.get("description"), str), where
        for pos in positions(g):
            assert len(pos) == 2 and all(isinstance(c, int | float) for c in pos), where
            lon, lat = pos
            assert -180 <= lon <= 180 and -90 <= lat <= 90, where
            assert dist_m(pos, anchor) < reach_m, f"{where}: {pos} is far from the scenario"
        band = (p.get("alt_min_m", 0), p.get("alt_max_m", math.inf))
        assert 0 <= band[0] <= band[1], where
        assert p.get("buffer_m", 0) >= 0 and p.get("time_uncertainty_s", 0) >= 0, where
        if p["kind"] == "movement":
            assert g["type"] == "LineString", where
            times = p["times"]
            assert len(times) == len(g["coordinates"]) >= 2, where
            assert all(ISO_Z.fullmatch(s) for s in times), where
            stamps = [epoch(s) for s in times]
            assert stamps == sorted(stamps), f"{where}: times go backwards"
            route_m = sum(
                dist_m(a, (b[0], b[1]))
                for a, b in zip(g["coordinates"], g["coordinates"][1:], strict=False)
            )
            assert len(g["coordinates"]) <= 40, where
            if route_m > 10_000:
                assert len(g["coordinates"]) >= 8, f"{where}: a long route needs waypoints"
            # Ground vehicles at ground speeds, aircraft below 300 km/h.
            for (a, ta), (b, tb) in zip(
                zip(g["coordinates"], stamps, strict=True),
                zip(g["coordinates"][1:], stamps[1:], strict=True),
                strict=False,
            ):
                if tb > ta:
                    assert dist_m(a, (b[0], b[1])) / (tb - ta) * 3.6 < 300, where
        else:
            assert g["type"] in (("Point", "Polygon") if p["kind"] == "site" else ("Polygon",))
            for key in ("valid_from", "valid_to"):
                if key in p:
                    assert ISO_Z.fullmatch(p[key]), where
            if "valid_from" in p and "valid_to" in p:
                assert epoch(p["valid_from"]) < epoch(p["valid_to"]), where
        if p["kind"] == "zone":
            assert p["zone_type"] in ("restricted", "corridor", "ceasefire"), where
        if g["type"] == "Polygon":
            assert len(g["coordinates"]) == 1, where
            ring = g["coordinates"][0]
            assert len(ring) >= 4 and ring[0] == ring[-1], f"{where}: ring not closed"
            poly = shapely.Polygon(ring)
            assert poly.is_valid, f"{where}: {shapely.is_valid_reason(poly)}"
            assert shapely.LinearRing(ring).is_ccw, f"{where}: RFC 7946 wants CCW exteriors"


@pytest.mark.parametrize("name", list_scenarios())
def test_the_parser_accepts_the_file_whole(name: str) -> None:
    decl_set = load_declarations(scenario_path(name))
    assert len(decl_set.declarations) == len(raw(name)["features"])
    assert decl_set.policy == Policy(horizontal_m=1000, vertical_m=300)
    assert decl_set.metadata["name"] == name
    assert decl_set.metadata["sources"]


# -- what the engine finds --------------------------------------------------------------


def run(name: str) -> tuple[list[Conflict], list[Crossing]]:
    decl_set = load_declarations(scenario_path(name))
    engine = Engine(decl_set.policy)
    engine.add_many(decl_set.declarations)
    return engine.all_conflicts(), engine.all_crossings()


def pairs(conflicts: list[Conflict]) -> set[tuple[str, str]]:
    return {(f"{c.party_a}/{c.a}", f"{c.party_b}/{c.b}") for c in conflicts}


def only(conflicts: list[Conflict], a: str, b: str) -> list[Conflict]:
    found = [c for c in conflicts if (f"{c.party_a}/{c.a}", f"{c.party_b}/{c.b}") == (a, b)]
    assert found, f"expected a conflict between {a} and {b}"
    return found


def utc(s: float) -> datetime:
    return datetime.fromtimestamp(s, UTC)


def test_al_malikiyah_conflicts_are_those_the_reporting_describes() -> None:
    conflicts, crossings = run("al-malikiyah-2020")
    assert pairs(conflicts) == {
        # The patrol and the vehicles that blocked it, near the town, ~10:00 local.
        ("RU-FORCES/mp-patrol-0825", "US-CJTF/matv-block-0825"),
        # ...and the two that followed it from Ma'bada.
        ("RU-FORCES/mp-patrol-0825", "US-CJTF/matv-follow-0825"),
        # The helicopters' 15-150 m band is within 300 m of the vehicles' 0-5 m.
        ("RU-FORCES/heli-escort-0825", "US-CJTF/matv-block-0825"),
        ("RU-FORCES/heli-escort-0825", "US-CJTF/matv-follow-0825"),
        # The notified route runs through the coalition's security zone.
        ("RU-FORCES/mp-patrol-0825", "US-CJTF/security-zone-rmelan"),
        ("RU-FORCES/heli-escort-0825", "US-CJTF/security-zone-rmelan"),
    }
    assert crossings == []

    (block,) = only(conflicts, "RU-FORCES/mp-patrol-0825", "US-CJTF/matv-block-0825")
    assert dist_m(block.at, AL_MALIKIYAH) < 3000
    assert block.min_distance_m == 0
    start = utc(block.start_s)
    assert start.date().isoformat() == "2020-08-25"
    assert 6 <= start.hour < 8  # 09:00-11:00 local: the NSC put the encounter at about 10:00
    assert block.start_s <= epoch("2020-08-25T07:00:00Z") <= block.end_s

    (follow,) = only(conflicts, "RU-FORCES/mp-patrol-0825", "US-CJTF/matv-follow-0825")
    assert dist_m(follow.at, MABADA) < 3000
    assert follow.end_s > block.start_s  # they follow it all the way to the block

    (heli,) = only(conflicts, "RU-FORCES/heli-escort-0825", "US-CJTF/matv-block-0825")
    assert dist_m(heli.at, AL_MALIKIYAH) < 3000
    assert heli.start_s <= epoch("2020-08-25T07:00:00Z") <= heli.end_s

    entries = only(conflicts, "RU-FORCES/mp-patrol-0825", "US-CJTF/security-zone-rmelan")
    assert all(c.min_distance_m == 0 for c in entries)
    assert min(c.start_s for c in entries) < block.start_s  # it enters the zone first


def test_aleppo_pause_zone_covers_the_besieged_districts_only() -> None:
    features = {f["properties"]["id"]: f for f in raw("aleppo-2016")["features"]}
    pause = shapely.Polygon(features["pause-east-aleppo"]["geometry"]["coordinates"][0])
    for hospital in ("al-quds-hospital", "childrens-hospital-al-shaar"):
        assert pause.contains(shapely.Point(features[hospital]["geometry"]["coordinates"]))
    assert pause.contains(shapely.Point(MASAKEN_HANANO))
    assert not pause.contains(shapely.Point(37.1628, 36.1993))  # the citadel, government-held
    assert not pause.contains(shapely.Point(37.15167, 36.23611))  # Sheikh Maqsood, YPG-held


def test_aleppo_conflicts_and_crossings_are_those_designed() -> None:
    conflicts, crossings = run("aleppo-2016")
    assert pairs(conflicts) == {
        # The government pull-back from the Castello road runs into the aid convoy.
        ("SAA/withdraw-castello-1020", "SARC-UN/aid-convoy-1020"),
        # The flight crosses both hospitals' protected airspace (0-500 m) at 500 m and up,
        ("OCHA-HNS/al-quds-hospital", "SY-RU-AIR/recon-orbit-1020"),
        ("OCHA-HNS/childrens-hospital-al-shaar", "SY-RU-AIR/recon-orbit-1020"),
        # ...and enters the government's own restricted area: allies are checked too.
        ("SAA/handarat-military-area", "SY-RU-AIR/recon-orbit-1020"),
        # The fighters pass both hospitals on the way to the assembly point,
        ("OCHA-HNS/al-quds-hospital", "OPP/fighters-to-assembly-1020"),
        ("OCHA-HNS/childrens-hospital-al-shaar", "OPP/fighters-to-assembly-1020"),
        # ...where they meet the UN escort.
        ("OPP/fighters-to-assembly-1020", "UN-ESCORT/evac-castello-1020"),
    }

    (pullback,) = only(conflicts, "SAA/withdraw-castello-1020", "SARC-UN/aid-convoy-1020")
    assert dist_m(pullback.at, CASTELLO) < 2000
    assert epoch("2016-10-20T05:00:00Z") <= pullback.start_s < epoch("2016-10-20T06:00:00Z")

    for hospital in ("al-quds-hospital", "childrens-hospital-al-shaar"):
        laps = only(conflicts, f"OCHA-HNS/{hospital}", "SY-RU-AIR/recon-orbit-1020")
        assert len(laps) == 2  # one conflict per lap over it
        assert all(c.min_distance_m == 0 for c in laps)

    (handover,) = only(conflicts, "OPP/fighters-to-assembly-1020", "UN-ESCORT/evac-castello-1020")
    assert dist_m(handover.at, MASAKEN_HANANO) < 1000

    # 500 m is more than 300 m above a 5 m ground band: the flight never conflicts with the
    # convoys, only with the hospitals that declared airspace.
    flown_over = {b for a, b in pairs(conflicts) if "recon-orbit" in a} | {
        a for a, b in pairs(conflicts) if "recon-orbit" in b
    }
    assert not flown_over & {"UN-ESCORT/evac-castello-1020", "SARC-UN/aid-convoy-1020"}

    crossed = {(x.zone, x.zone_type.value, x.movement) for x in crossings}
    for convoy in ("evac-castello-1020", "aid-convoy-1020"):
        assert ("pause-east-aleppo", "ceasefire", convoy) in crossed
        assert ("corridor-castello", "corridor", convoy) in crossed
    assert ("pause-east-aleppo", "ceasefire", "fighters-to-assembly-1020") in crossed
    # Crossing a corridor or ceasefire zone is reported, never a conflict.
    zones = {"SY-RU-AIR/pause-east-aleppo", "SAA/corridor-castello"}
    assert not any(set(pair) & zones for pair in pairs(conflicts))
    evac = [x for x in crossings if x.movement == "evac-castello-1020"]
    assert all(
        epoch("2016-10-20T05:00:00Z") <= x.start_s <= x.end_s <= epoch("2016-10-20T16:00:00Z")
        for x in evac
    )
