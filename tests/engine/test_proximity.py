"""Candidate pairs of the tactical monitor (engine/proximity.py) against all pairs, where
its shortcuts could fail: far from the frame's origin (the float32 screen), crowded cells,
grids too fine for a start table, every speed-class partition; the pair-alert columns
against the dict book whose rules they copy; the blocked 3 x 3 rotations of the frame."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deconflict.engine.alertbook import AlertBook, PairAlerts
from deconflict.engine.proximity import SPEED_EDGES_MPS, find_pairs, speed_classes
from deconflict.engine.tracks import Frame, _enu_axes, _rotate
from deconflict.model.positions import AlertEvent

H, V, T = 1000.0, 300.0, 120.0


def all_pairs(
    p: np.ndarray, v: np.ndarray, alt: np.ndarray, party: np.ndarray, h: float, la: float
) -> dict[tuple[int, int], tuple[float, float]]:
    """(a, b) -> (closest-approach distance, its time) of every pair within H, in float64
    by the same closed form, one pair at a time."""
    out: dict[tuple[int, int], tuple[float, float]] = {}
    for a in range(p.shape[0]):
        for b in range(a + 1, p.shape[0]):
            if party[a] == party[b] or abs(alt[a] - alt[b]) >= V:
                continue
            d0, dv = p[a] - p[b], v[a] - v[b]
            vv = float(dv @ dv)
            tc = 0.0 if vv <= 1e-12 else min(max(-float(d0 @ dv) / vv, 0.0), la)
            dmin = float(np.linalg.norm(d0 + tc * dv))
            if dmin < h:
                out[(a, b)] = (dmin, tc)
    return out


def check(
    p: np.ndarray,
    v: np.ndarray,
    alt: np.ndarray,
    party: np.ndarray,
    h: float = H,
    la: float = T,
    cell_m: float = 0.0,
) -> None:
    units = np.arange(p.shape[0]) * 3 + 7  # unit numbers are not row numbers
    got = find_pairs(units, p, v, alt, party, h, V, la, cell_m)
    want = all_pairs(p, v, alt, party, h, la)
    rows = {int(u): k for k, u in enumerate(units)}
    pairs = [(rows[int(i)], rows[int(j)]) for i, j in zip(got.i, got.j, strict=True)]
    assert len(set(pairs)) == len(pairs), "a pair came out twice"
    assert set(pairs) == set(want)
    assert list(zip(got.i.tolist(), got.j.tolist(), strict=True)) == sorted(
        zip(got.i.tolist(), got.j.tolist(), strict=True)
    )
    for (a, b), d, tc in zip(pairs, got.cpa_distance_m, got.cpa_dt_s, strict=True):
        assert abs(d - want[(a, b)][0]) <= 1e-6 * max(d, 1.0)
        assert abs(tc - want[(a, b)][1]) <= 1e-6 * max(tc, 1.0)


def traffic(
    rng: np.random.Generator, n: int, side_m: float, speeds: list[float]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    p = np.column_stack([rng.uniform(-side_m, side_m, (n, 2)), rng.uniform(-50, 50, n)])
    speed = rng.choice(speeds, n) * rng.uniform(0.5, 1.0, n)
    ang = rng.uniform(0, 2 * np.pi, n)
    v = np.column_stack([speed * np.sin(ang), speed * np.cos(ang), rng.normal(0, 0.01, n)])
    alt = np.where(rng.random(n) < 0.5, 0.0, rng.uniform(0, 2000, n))
    return p, v, alt, rng.integers(0, 3, n)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(2, 150), st.integers(0, 2**32 - 1), st.sampled_from((1e6, 3e6, 6e6)))
def test_far_from_the_frame_origin_the_float32_screen_misses_nothing(
    n: int, seed: int, offset_m: float
) -> None:
    """Coordinates of thousands of km keep 24 bits in float32 (0.25 m at 3,000 km): the
    screen's margin must still keep every pair that the exact test keeps, including pairs
    whose closest approach is within a few centimetres of H."""
    rng = np.random.default_rng(seed)
    p, v, alt, party = traffic(rng, n, 6000.0, [0.0, 2.0, 15.0, 30.0, 250.0])
    # Pairs placed just inside H, still, so the closest approach is now.
    k = n // 2
    p[1:k:2] = p[0 : k - 1 : 2] + np.array([H - 0.02, 0.0, 0.0])
    v[1:k:2] = v[0 : k - 1 : 2] = 0.0
    alt[1:k:2] = alt[0 : k - 1 : 2]
    p[:, :2] += offset_m
    check(p, v, alt, party)


def test_crowded_cells_and_every_speed_class() -> None:
    """Hundreds of units in a few cells (many per cell: the per-cell ranges are shared),
    with units of every speed class."""
    rng = np.random.default_rng(5)
    n = 600
    centres = rng.uniform(-20_000, 20_000, (4, 2))
    p = np.column_stack([centres[rng.integers(0, 4, n)] + rng.normal(0, 300, (n, 2)), np.zeros(n)])
    speeds = [0.0, *SPEED_EDGES_MPS, 2000.0]
    _, v, alt, party = traffic(rng, n, 1.0, speeds)
    check(p, v, alt, party)


def test_a_grid_too_fine_for_a_start_table_is_searched() -> None:
    """Small H, no look-ahead, units spread over 4,000 km: cells of ~17 m, far too many
    for a table of cell starts, so neighbour ranges come from binary searches."""
    rng = np.random.default_rng(9)
    p, v, alt, party = traffic(rng, 400, 2_000_000.0, [0.0, 1.0])
    p[1:100:2] = p[0:99:2] + np.array([30.0, 20.0, 0.0])
    check(p, v, alt, party, h=50.0, la=0.0)


def test_a_larger_cell_than_the_classes_need() -> None:
    """`cell_m` (MonitorSettings.cell_speed_mps) only makes cells larger: same pairs."""
    rng = np.random.default_rng(11)
    p, v, alt, party = traffic(rng, 300, 15_000.0, [0.0, 5.0, 30.0, 250.0])
    check(p, v, alt, party, cell_m=25_000.0)


@given(
    st.lists(
        st.sampled_from((0.0, 0.3, 1.0, 3.0, 8.0, 15.0, 30.0, 70.0, 150.0, 300.0, 900.0)),
        min_size=1,
        max_size=300,
    ),
    st.sampled_from((1e6, 1e9, 1e12)),
)
def test_speed_classes_partition_the_units_by_speed(speeds: list[float], area_m2: float) -> None:
    """Every unit in exactly one class, classes in increasing speed without overlap."""
    speed = np.asarray(speeds)
    classes = speed_classes(speed, H, T / 2, area_m2)
    rows = np.concatenate(classes)
    assert sorted(rows.tolist()) == list(range(speed.size))
    for slow, fast in zip(classes, classes[1:], strict=False):
        assert speed[slow].max() <= speed[fast].min()


# -- pair alerts as columns against the dict book ---------------------------------------


def describe(
    kind: object, i: int, j: int, mi: int, mj: int
) -> tuple[tuple[str, ...], set[str], tuple[str, ...]]:
    decl = tuple(sorted(f"m{m}" for m in (mi, mj) if m >= 0))
    return (f"p{i % 3}/u{i}", f"p{j % 3}/u{j}"), {f"p{i % 3}", f"p{j % 3}"}, decl


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_pair_alert_columns_follow_the_books_rules(seed: int) -> None:
    """Random conditions held over 60 s of ticks, in random key order: the same open,
    update and close events as `AlertBook.hold` and `close_due` give for the same keys."""
    rng = np.random.default_rng(seed)
    cols = PairAlerts(30.0, 10.0)
    cols.describe = describe
    book = AlertBook(30.0, 10.0)
    units = rng.integers(0, 40, (30, 2))
    for now in np.arange(0.0, 60.0, 1.0).tolist():
        got = cols.close_due(now)
        want = book.close_due(now)
        held = [(min(a, b), max(a, b)) for a, b in units if a != b and rng.random() < 0.4]
        held = sorted(set(held))
        rng.shuffle(held)  # type: ignore[arg-type]
        if held:
            i = np.array([a for a, _ in held])
            j = np.array([b for _, b in held])
            kind = rng.integers(0, 2, i.size)
            mi, mj = i % 4 - 1, j % 5 - 1
            values = np.round(rng.choice([100.0, 200.0], (i.size, 3)), 1)
            values[kind == 1, 1:] = np.nan
            got += cols.hold(now, kind, i, j, mi, mj, values)
            for k in np.argsort((i << 32) | (j << 1) | kind, kind="stable").tolist():
                kk = PairAlerts.KINDS[int(kind[k])]
                names, parties, decl = describe(kk, int(i[k]), int(j[k]), int(mi[k]), int(mj[k]))
                val = [None if np.isnan(x) else float(x) for x in values[k]]
                ev = book.hold(
                    (int(i[k]), int(j[k]), int(kind[k])), now, kk, names, parties, decl, *val
                )
                if ev is not None:
                    want.append(ev)
        assert sorted(got, key=repr) == sorted(want, key=repr)
        assert len(cols) == len(book.open)
    assert {e.event for e in got} <= set(AlertEvent)


# -- the frame's rotations in blocks -------------------------------------------------------


@given(st.integers(0, 9000))
@settings(max_examples=30, deadline=None)
def test_blocked_rotation_is_the_plain_product_bit_for_bit(n: int) -> None:
    """`_rotate` splits the product so OpenBLAS stays on one thread; every row must come
    out exactly as from one product (a one-row block would take another path)."""
    rng = np.random.default_rng(n)
    a = rng.normal(0, 3e6, (n, 3))
    rot = _enu_axes(np.radians([42.0]), np.radians([37.0]))[0]
    assert np.array_equal(_rotate(a, rot), a @ rot.T)


def test_velocity_is_speed_along_course_in_the_local_plane() -> None:
    frame = Frame(42.0, 37.0)
    rng = np.random.default_rng(3)
    lon, lat = rng.uniform(38, 46, 5000), rng.uniform(33, 41, 5000)
    speed, course = rng.uniform(0, 300, 5000), rng.uniform(0, 360, 5000)
    v = frame.velocity(lon, lat, speed, course)
    axes = _enu_axes(np.radians(lon), np.radians(lat)) @ frame.rot.T
    c = np.radians(course)
    want = speed[:, None] * (np.sin(c)[:, None] * axes[:, 0] + np.cos(c)[:, None] * axes[:, 1])
    assert np.allclose(v, want, rtol=0, atol=1e-9)
    assert np.allclose(np.linalg.norm(v, axis=1), speed, rtol=1e-12, atol=1e-9)
