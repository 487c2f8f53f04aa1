"""Property tests: the engine against the brute-force reference (tests/engine/reference.py)
on random theatres, and incremental use against a fresh bulk build.

The reference gives, per pair, the times they *surely* conflict and the times they *may*
conflict. The engine must report every sure time, nothing outside the may-times, and a
least distance inside the reference's bounds. Pairs too close to the threshold for the
reference to call even after resampling finer are counted; a test at the end of this
module fails if they are not rare.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from deconflict.engine import Engine
from deconflict.errors import AlreadyExists, NotFound
from deconflict.model import (
    Conflict,
    Declaration,
    DeclarationKey,
    Movement,
    Policy,
    Site,
    Zone,
    ZoneType,
)

from . import reference as ref
from .strategies import PARTIES, V_M, frames, movements, sites, zones

EPS_T = 2e-3
"""Seconds: the engine bisects uncertain interval ends to 1 ms (engine/pairs.py)."""
MIN_DIST_REL = 0.01
"""The brief: least distances agree to within 1 % (beyond the reference's own bounds)."""

STATS: Counter[str] = Counter()


def examples(weight: float) -> int:
    """This test's share of the active profile's example budget (tests/conftest.py)."""
    return max(5, round(settings().max_examples * weight))


def spacing_for(decls: Sequence[Declaration]) -> float:
    """Reference sample spacing: fine enough to be sharp, coarse enough to be quick."""
    longest = 0.0
    for d in decls:
        if isinstance(d, Movement) and len(d.positions) > 1:
            lon, lat = np.array(d.positions).T
            legs = ref.geod_distance(lon[:-1], lat[:-1], lon[1:], lat[1:])
            longest = max(longest, float(legs.sum()))
    return min(25.0, max(4.0, longest / 3000))


def pair_key(x: Declaration, y: Declaration) -> tuple[str, str, str, str]:
    (pa, a), (pb, b) = sorted([(x.party, x.id), (y.party, y.id)])
    return (pa, a, pb, b)


def by_pair(conflicts: Sequence[Conflict]) -> dict[tuple[str, str, str, str], list[Conflict]]:
    out: dict[tuple[str, str, str, str], list[Conflict]] = {}
    for c in conflicts:
        out.setdefault((c.party_a, c.a, c.party_b, c.b), []).append(c)
    return out


def contained(inner: tuple[float, float], outer: Sequence[tuple[float, float]], eps: float) -> bool:
    return any(o0 - eps <= inner[0] and inner[1] <= o1 + eps for o0, o1 in outer)


def check_intervals(truth: ref.Truth, intervals: list[tuple[float, float]], what: str) -> None:
    """Engine intervals for one pair: sorted, disjoint, holding every time the reference
    proves and none it rules out."""
    STATS["pairs"] += 1
    for s, e in intervals:
        assert s <= e, (what, intervals)
    for (_, e0), (s1, _) in zip(intervals, intervals[1:], strict=False):
        assert e0 < s1, f"{what}: intervals not maximal/disjoint: {intervals}"
    sure, maybe = truth.sure(), truth.maybe()
    for iv in sure:
        assert contained(iv, intervals, EPS_T), (
            f"{what}: reference proves a conflict during {iv}, engine reports {intervals}")
    for iv in intervals:
        assert contained(iv, maybe, EPS_T), (
            f"{what}: engine reports {iv}, reference says it cannot conflict outside {maybe}")
    decided = truth.decided()
    if decided is None:
        STATS["undecided"] += 1
        event("undecided pair (too close to the threshold to call)")
    elif decided:
        STATS["conflicting"] += 1


def check_pair(truth: ref.Truth, found: list[Conflict], what: str) -> None:
    """The engine's conflicts for one pair against the reference's bounds."""
    found = sorted(found, key=lambda c: c.start_s)
    check_intervals(truth, [(c.start_s, c.end_s) for c in found], what)
    for c in found:
        assert c.min_distance_m >= 0, (what, c)
        lo, hi = truth.reported_bounds(c.start_s - EPS_T, c.end_s + EPS_T)
        slack = MIN_DIST_REL * hi + ref.GEO_REL * (hi + truth.buffers_m) + ref.TOL_M
        assert lo - slack <= c.min_distance_m <= hi + slack, (
            f"{what}: min_distance_m {c.min_distance_m} outside reference [{lo}, {hi}]")
        assert c.min_distance_m < truth.threshold_m - truth.buffers_m + truth.tol_m, (what, c)


def check_at(truth: ref.Truth, c: Conflict, movements: Sequence[Movement], spacing: float,
             area: Site | Zone | None = None) -> None:
    """`at` is the midpoint of the closest approach: no farther than half the least centre
    distance from where each side may be during the conflict."""
    _, centre = truth.centre_bounds(c.start_s - EPS_T, c.end_s + EPS_T)
    if not math.isfinite(centre):
        return
    half = max(0.0, centre) / 2 + ref.GEO_REL * truth.threshold_m + ref.TOL_M
    lon, lat = c.at
    for m in movements:
        u = m.time_uncertainty_s
        near = ref.distance_to_route_lower(m, lon, lat, spacing,
                                           (c.start_s - u - EPS_T, c.end_s + u + EPS_T))
        assert near <= half, f"{c}: `at` is {near} m from {m.id}'s route, above {half}"
    if area is not None:
        d = float(ref.signed_distance_to_area(area.geometry, np.array([lon]), np.array([lat]))[0])
        assert d <= half, f"{c}: `at` is {d} m from {area.id}, above {half}"


def resolve(compute, spacing: float) -> ref.Truth:  # type: ignore[no-untyped-def]
    return ref.refine(compute(spacing, None), compute, spacing)


# -- movements against movements ---------------------------------------------------------


@st.composite
def movement_theatres(draw: st.DrawFn) -> tuple[Policy, list[Movement]]:
    frame = draw(frames())
    n_parties = draw(st.integers(2, 3))
    n = draw(st.integers(2, 6))
    parties = [PARTIES[k % n_parties] for k in range(n)]
    parties = [draw(st.sampled_from(PARTIES[:n_parties])) if k >= 2 else p
               for k, p in enumerate(parties)]
    decls = [draw(movements(frame, p, f"m{k}")) for k, p in enumerate(parties)]
    h = draw(st.sampled_from([500.0, 1000.0, 2000.0]))
    return Policy(horizontal_m=h, vertical_m=V_M), decls


@settings(max_examples=examples(1.0), deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(movement_theatres())
def test_spec_3_movement_conflicts_match_the_reference(
    theatre: tuple[Policy, list[Movement]],
) -> None:
    policy, decls = theatre
    eng = Engine(policy=policy)
    eng.add_many(decls)
    got = by_pair(eng.all_conflicts())
    spacing = spacing_for(decls)
    expected_pairs = set()
    for i, a in enumerate(decls):
        for b in decls[i + 1:]:
            key = pair_key(a, b)
            if a.party == b.party:
                assert key not in got, "same party never conflicts"
                continue
            truth = resolve(
                lambda s, w, a=a, b=b: ref.movement_pair(a, b, policy, s, w), spacing)
            check_pair(truth, got.get(key, []), f"{key}")
            for c in got.get(key, []):
                check_at(truth, c, (a, b), spacing)
            expected_pairs.add(key)
    assert set(got) <= expected_pairs


# -- movements against sites and restricted zones ----------------------------------------


@st.composite
def area_theatres(draw: st.DrawFn) -> tuple[Policy, list[Declaration]]:
    frame = draw(frames(antimeridian=False))
    decls: list[Declaration] = []
    for k in range(draw(st.integers(1, 3))):
        decls.append(draw(movements(frame, draw(st.sampled_from(PARTIES)), f"m{k}")))
    for k in range(draw(st.integers(1, 3))):
        decls.append(draw(sites(frame, draw(st.sampled_from(PARTIES)), f"s{k}")))
    for k in range(draw(st.integers(0, 3))):
        decls.append(draw(zones(frame, draw(st.sampled_from(PARTIES)), f"z{k}")))
    h = draw(st.sampled_from([500.0, 1000.0, 2000.0]))
    return Policy(horizontal_m=h, vertical_m=V_M), decls


@settings(max_examples=examples(0.6), deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(area_theatres())
def test_spec_3_site_zone_conflicts_and_crossings_match_the_reference(
    theatre: tuple[Policy, list[Declaration]],
) -> None:
    policy, decls = theatre
    eng = Engine(policy=policy)
    eng.add_many(decls)
    got = by_pair(eng.all_conflicts())
    crossings = eng.all_crossings()
    spacing = spacing_for(decls)
    expected = set()
    for m in decls:
        if not isinstance(m, Movement):
            continue
        for area in decls:
            if isinstance(area, Movement) or area.party == m.party:
                continue
            key = pair_key(m, area)
            truth = resolve(
                lambda s, w, m=m, area=area: ref.movement_area(m, area, policy, s, w), spacing)
            if isinstance(area, Zone) and area.zone_type is not ZoneType.RESTRICTED:
                assert key not in got, "corridors and ceasefires raise no conflict"
                passes = sorted((x.start_s, x.end_s) for x in crossings
                                if (x.zone_party, x.zone, x.movement_party, x.movement)
                                == (area.party, area.id, m.party, m.id))
                check_intervals(truth, passes, f"crossing {key}")
                continue
            check_pair(truth, got.get(key, []), f"{key}")
            for c in got.get(key, []):
                check_at(truth, c, (m,), spacing, area)
            expected.add(key)
    movement_pairs = {
        pair_key(a, b) for a in decls for b in decls
        if isinstance(a, Movement) and isinstance(b, Movement) and a.party != b.party
    }
    stray = set(got) - expected - movement_pairs
    assert not stray, f"sites/zones never conflict with each other or their own party: {stray}"


# -- geodesic accuracy over a region (SPEC: 0.1 % up to 500 km) ---------------------------


@st.composite
def regional_theatres(draw: st.DrawFn) -> tuple[Policy, list[Movement]]:
    frame = draw(frames(min_m=100_000.0, max_m=500_000.0))
    decls = [draw(movements(frame, party, f"m{k}", max_speed_mps=250.0, uncertainty=False))
             for k, party in enumerate(["blue", "red", draw(st.sampled_from(PARTIES))])]
    h = draw(st.sampled_from([20_000.0, 100_000.0, 300_000.0]))
    return Policy(horizontal_m=h, vertical_m=V_M), decls


@settings(max_examples=examples(0.15), deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(regional_theatres())
def test_spec_3_regional_distances_match_the_reference(
    theatre: tuple[Policy, list[Movement]],
) -> None:
    """Theatres 100-500 km across, aircraft speeds, H up to 300 km: conflicts and least
    distances still agree with Geod sampling to SPEC's 0.1 %."""
    policy, decls = theatre
    eng = Engine(policy=policy)
    eng.add_many(decls)
    got = by_pair(eng.all_conflicts())
    spacing = spacing_for(decls)
    for i, a in enumerate(decls):
        for b in decls[i + 1:]:
            if a.party != b.party:
                truth = resolve(
                    lambda s, w, a=a, b=b: ref.movement_pair(a, b, policy, s, w), spacing)
                check_pair(truth, got.get(pair_key(a, b), []), f"{pair_key(a, b)}")


@settings(max_examples=examples(0.3), deadline=None)
@given(st.floats(-180, 180), st.floats(-90, 90), st.floats(0, 360), st.floats(1_000, 500_000),
       st.sampled_from([-1, 1]))
def test_spec_3_separation_is_geodesic_to_0_1_percent_up_to_500_km(
    lon: float, lat: float, az: float, d: float, side: int,
) -> None:
    """Two stationary units d apart (anywhere, poles and antimeridian included): with H
    0.2 % above d they conflict, least distance d to 0.1 %; with H 0.2 % below, they do
    not."""
    lon2, lat2, _ = ref.GEOD.fwd(lon, lat, az, d)
    true_d = float(ref.geod_distance(lon, lat, lon2, lat2))
    h = true_d * (1 + side * 0.002)
    eng = Engine(policy=Policy(horizontal_m=h))
    eng.add_many([
        Movement("a", "blue", ((lon, lat), (lon, lat)), (0.0, 60.0)),
        Movement("b", "red", ((float(lon2), float(lat2)),) * 2, (0.0, 60.0)),
    ])
    got = eng.all_conflicts()
    if side < 0:
        assert got == []
    else:
        assert len(got) == 1
        assert got[0].min_distance_m == pytest.approx(true_d, rel=1e-3)
        assert (got[0].start_s, got[0].end_s) == (0.0, 60.0)


# -- incremental use ---------------------------------------------------------------------


@st.composite
def mixed_theatres(draw: st.DrawFn) -> tuple[Policy, list[Declaration]]:
    frame = draw(frames())
    decls: list[Declaration] = []
    for k in range(draw(st.integers(2, 6))):
        decls.append(draw(movements(frame, draw(st.sampled_from(PARTIES)), f"m{k}")))
    if abs(frame.lon) < 179:  # keep areas off the antimeridian (RFC 7946 cuts them there)
        for k in range(draw(st.integers(0, 2))):
            decls.append(draw(sites(frame, draw(st.sampled_from(PARTIES)), f"s{k}")))
        for k in range(draw(st.integers(0, 2))):
            decls.append(draw(zones(frame, draw(st.sampled_from(PARTIES)), f"z{k}")))
    return Policy(horizontal_m=draw(st.sampled_from([500.0, 1000.0, 2000.0]))), decls


def assert_same(got: Sequence[Conflict], want: Sequence[Conflict]) -> None:
    key = lambda c: (c.party_a, c.a, c.party_b, c.b, c.start_s)  # noqa: E731
    g, w = sorted(got, key=key), sorted(want, key=key)
    assert [key(c)[:4] for c in g] == [key(c)[:4] for c in w]
    for x, y in zip(g, w, strict=True):
        assert x.start_s == pytest.approx(y.start_s, abs=EPS_T)
        assert x.end_s == pytest.approx(y.end_s, abs=EPS_T)
        assert x.min_distance_m == pytest.approx(y.min_distance_m, rel=1e-6, abs=1e-3)
        # the same place (lon 180 and -180 are one meridian): within a centimetre
        assert float(ref.geod_distance(*x.at, *y.at)) < 0.01, (x.at, y.at)


def involves(c: Conflict, d: Declaration) -> bool:
    return (c.party_a, c.a) == d.key or (c.party_b, c.b) == d.key


@settings(max_examples=examples(0.4), deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(mixed_theatres(), st.data())
def test_incremental_adds_and_removes_match_a_bulk_build(
    theatre: tuple[Policy, list[Declaration]], data: st.DataObject,
) -> None:
    policy, decls = theatre
    order = data.draw(st.permutations(decls))
    dropped = data.draw(st.lists(st.sampled_from(decls), unique_by=lambda d: d.key, max_size=3))
    readd = data.draw(st.lists(st.sampled_from(dropped), unique_by=lambda d: d.key)
                      if dropped else st.just([]))
    inc = Engine(policy=policy)
    for d in order:
        # conflicts_of a declaration not yet indexed: what adding it will add
        before = inc.all_conflicts()
        would = inc.conflicts_of(d)
        inc.add(d)
        after = inc.all_conflicts()
        assert_same([c for c in after if involves(c, d)], would)
        assert_same([c for c in after if not involves(c, d)], before)
    with pytest.raises(AlreadyExists):
        inc.add(order[0])
    for d in dropped:
        assert inc.remove(d.key) is d
        assert d.key not in inc
    with pytest.raises(NotFound):
        if dropped:
            inc.remove(dropped[0].key)
        else:
            inc.remove(DeclarationKey("nobody", "nothing"))
    for d in readd:
        inc.add(d)
    final = [d for d in decls if d.key in inc]
    assert len(inc) == len(final)
    bulk = Engine(policy=policy)
    bulk.add_many(final)
    got = inc.all_conflicts()
    assert got == sorted(got, key=lambda c: (c.start_s, c.party_a, c.a, c.party_b, c.b))
    assert_same(got, bulk.all_conflicts())
    for d in final:
        mine = [c for c in got if involves(c, d)]
        assert_same(inc.conflicts_of(d.key), mine)
        assert_same(inc.conflicts_of(d), mine)
        assert all(c.party_a != c.party_b for c in mine)
    STATS["incremental"] += 1


# -- rarity of what the reference cannot call --------------------------------------------


def test_undecided_pairs_are_rare() -> None:
    """Runs after the property tests above (pytest keeps file order): the reference could
    not call only a small share of the pairs it saw, so the comparisons above had teeth."""
    if STATS["pairs"] < 20:
        pytest.skip(f"property tests above did not run here (saw {STATS['pairs']} pairs)")
    share = STATS["undecided"] / STATS["pairs"]
    print(f"reference stats: {dict(STATS)}")
    assert share <= 0.02, dict(STATS)
    assert STATS["conflicting"] >= 0.1 * STATS["pairs"], (
        f"too few conflicting pairs to mean anything: {dict(STATS)}")

