"""Closest approach of two linearly moving points, vectorised over many pairs at once.

Each pair is two segments A0->A1 over [ta0, ta1] and B0->B1 over [tb0, tb1], already
reduced to horizontal vectors. With s in [0, 1] along each, the squared distance
f(s1, s2) = |W + s1 da - s2 db|^2 is a convex quadratic, so its minimum over a convex
polygon of (s1, s2) is the interior stationary point when feasible, else the minimum over
the polygon's edges; along an edge f is a 1-D quadratic, minimised in closed form.
Everything here is O(pairs) numpy work with no Python loop over pairs.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

_EPS_T = 1e-9  # seconds: durations below this are instants


def _dot(a: FloatArray, b: FloatArray) -> FloatArray:
    out: FloatArray = np.einsum("ij,ij->i", a, b)
    return out


def _edge_min(
    w: FloatArray,
    da: FloatArray,
    db: FloatArray,
    p0: FloatArray,
    p1: FloatArray,
    valid: BoolArray,
) -> tuple[FloatArray, FloatArray]:
    """Min of f on the (s1, s2) segments p0 -> p1 (each (n, 2)); inf where not valid.
    Returns (squared distance, (n, 2) argmin)."""
    e = w + p0[:, :1] * da - p0[:, 1:] * db
    d = p1 - p0
    fvec = d[:, :1] * da - d[:, 1:] * db
    ff = _dot(fvec, fvec)
    with np.errstate(divide="ignore", invalid="ignore"):
        lam = np.where(ff > 0, -_dot(e, fvec) / ff, 0.0)
    lam = np.clip(np.nan_to_num(lam), 0.0, 1.0)
    v = e + lam[:, None] * fvec
    val = np.where(valid, _dot(v, v), np.inf)
    return val, p0 + lam[:, None] * d


def _interior(
    w: FloatArray, da: FloatArray, db: FloatArray, feasible: Callable[[FloatArray], BoolArray]
) -> tuple[FloatArray, FloatArray]:
    """The unconstrained stationary point of f as a candidate: its squared distance where it
    is unique and `feasible`, else inf; and the point."""
    aa = _dot(da, da)
    bb = _dot(db, db)
    ab = _dot(da, db)
    wa = _dot(w, da)
    wb = _dot(w, db)
    det = aa * bb - ab * ab
    ok = det > 1e-12 * np.maximum(aa * bb, 1e-300)
    safe = np.where(ok, det, 1.0)
    s = np.stack([(-wa * bb + wb * ab) / safe, (wb * aa - wa * ab) / safe], axis=1)
    v = w + s[:, :1] * da - s[:, 1:] * db
    return np.where(ok & feasible(s), _dot(v, v), np.inf), s


def _closest(
    cands: list[tuple[FloatArray, FloatArray]],
) -> tuple[FloatArray, FloatArray]:
    """The best of the candidates: (distance, argmin)."""
    vals = np.stack([c[0] for c in cands])
    args = np.stack([c[1] for c in cands])
    k = np.argmin(vals, axis=0)
    idx = np.arange(vals.shape[1])
    return np.sqrt(vals[k, idx]), args[k, idx]


def min_over_box(
    w: FloatArray,
    da: FloatArray,
    db: FloatArray,
    lo1: FloatArray,
    hi1: FloatArray,
    lo2: FloatArray,
    hi2: FloatArray,
) -> tuple[FloatArray, FloatArray]:
    """Least distance (not squared) over s1 in [lo1, hi1], s2 in [lo2, hi2]; inf where the
    box is empty. Returns (distance, (n, 2) argmin)."""
    nonempty = (lo1 <= hi1) & (lo2 <= hi2)
    cands = []
    for (a_lo, a_hi), (b_lo, b_hi) in (
        ((lo1, lo1), (lo2, hi2)),
        ((hi1, hi1), (lo2, hi2)),
        ((lo1, hi1), (lo2, lo2)),
        ((lo1, hi1), (hi2, hi2)),
    ):
        p0 = np.stack([a_lo, b_lo], axis=1)
        p1 = np.stack([a_hi, b_hi], axis=1)
        cands.append(_edge_min(w, da, db, p0, p1, nonempty))
    cands.append(
        _interior(
            w,
            da,
            db,
            lambda s: (
                nonempty & (s[:, 0] >= lo1) & (s[:, 0] <= hi1) & (s[:, 1] >= lo2) & (s[:, 1] <= hi2)
            ),
        )
    )
    return _closest(cands)


def min_over_band(
    w: FloatArray,
    da: FloatArray,
    db: FloatArray,
    k: FloatArray,
    dur_a: FloatArray,
    dur_b: FloatArray,
    band: FloatArray,
) -> tuple[FloatArray, FloatArray]:
    """Least distance over s in [0, 1]^2 with |k + s1 dur_a - s2 dur_b| <= band.

    That is: the two units at times ta0 + s1 dur_a and tb0 + s2 dur_b, with k = ta0 - tb0,
    no further apart in time than `band` (the sum of their time uncertainties). Returns
    (distance, (n, 2) argmin); inf where no such times exist.
    """
    n = w.shape[0]
    zero = np.zeros(n)
    one = np.ones(n)
    cands = []
    pos_a = dur_a > _EPS_T
    pos_b = dur_b > _EPS_T
    safe_a = np.where(pos_a, dur_a, 1.0)
    safe_b = np.where(pos_b, dur_b, 1.0)
    # Edges s1 = c: s2 must satisfy |k + c dur_a - s2 dur_b| <= band.
    for c in (0.0, 1.0):
        base = k + c * dur_a
        lo = np.where(pos_b, (base - band) / safe_b, 0.0)
        hi = np.where(pos_b, (base + band) / safe_b, 1.0)
        ok = np.where(pos_b, True, np.abs(base) <= band)
        lo = np.maximum(lo, 0.0)
        hi = np.minimum(hi, 1.0)
        cands.append(
            _edge_min(
                w, da, db, np.stack([zero + c, lo], 1), np.stack([zero + c, hi], 1), ok & (lo <= hi)
            )
        )
    # Edges s2 = c: s1 must satisfy |k + s1 dur_a - c dur_b| <= band.
    for c in (0.0, 1.0):
        base = k - c * dur_b
        lo = np.where(pos_a, (-band - base) / safe_a, 0.0)
        hi = np.where(pos_a, (band - base) / safe_a, 1.0)
        ok = np.where(pos_a, True, np.abs(base) <= band)
        lo = np.maximum(lo, 0.0)
        hi = np.minimum(hi, 1.0)
        cands.append(
            _edge_min(
                w, da, db, np.stack([lo, zero + c], 1), np.stack([hi, zero + c], 1), ok & (lo <= hi)
            )
        )
    # The band's two lines k + s1 dur_a - s2 dur_b = +-band, clipped to the square.
    for sign in (-1.0, 1.0):
        rhs = sign * band - k  # s1 dur_a - s2 dur_b = rhs
        # Parametrise by s1 where dur_b > 0: s2 = (s1 dur_a - rhs) / dur_b.
        lo1 = np.where(pos_a, rhs / safe_a, 0.0)  # s2 = 0
        hi1 = np.where(pos_a, (rhs + dur_b) / safe_a, 1.0)  # s2 = 1
        lo1, hi1 = np.minimum(lo1, hi1), np.maximum(lo1, hi1)
        lo1 = np.maximum(lo1, 0.0)
        hi1 = np.minimum(hi1, 1.0)
        ok_b = pos_b & (lo1 <= hi1)
        ok_b &= np.where(pos_a, True, (-rhs >= 0) & (-rhs <= dur_b))
        p0 = np.stack([lo1, (lo1 * dur_a - rhs) / safe_b], 1)
        p1 = np.stack([hi1, (hi1 * dur_a - rhs) / safe_b], 1)
        cands.append(_edge_min(w, da, db, np.clip(p0, 0, 1), np.clip(p1, 0, 1), ok_b))
        # Where dur_b == 0 the line is s1 = rhs / dur_a, any s2.
        s1c = np.clip(rhs / safe_a, 0.0, 1.0)
        ok_a = ~pos_b & pos_a & (rhs >= 0) & (rhs <= dur_a)
        cands.append(_edge_min(w, da, db, np.stack([s1c, zero], 1), np.stack([s1c, one], 1), ok_a))
    cands.append(
        _interior(
            w,
            da,
            db,
            lambda s: (
                np.all((s >= 0) & (s <= 1), axis=1)
                & (np.abs(k + s[:, 0] * dur_a - s[:, 1] * dur_b) <= band)
            ),
        )
    )
    return _closest(cands)


def roots_below(
    c0: FloatArray, w: FloatArray, r: FloatArray, lo: FloatArray, hi: FloatArray
) -> tuple[FloatArray, FloatArray, BoolArray]:
    """Where |c0 + t w| < r for t in [lo, hi]: the interval [t_in, t_out] and whether it
    is non-empty (a convex quadratic in t, solved in closed form)."""
    a = _dot(w, w)
    b = 2.0 * _dot(c0, w)
    c = _dot(c0, c0) - r * r
    moving = a > 1e-18
    disc = b * b - 4.0 * a * c
    sq = np.sqrt(np.maximum(disc, 0.0))
    safe = np.where(moving, a, 1.0)
    # Numerically stable quadratic roots. Where there is no real root (disc <= 0) q may be
    # subnormal and c / q overflow to inf: those lanes are dropped by `ok` below.
    q = -0.5 * (b + np.copysign(sq, b))
    safe_q = np.where(q == 0, 1.0, q)
    r1 = q / safe
    with np.errstate(over="ignore"):
        r2 = np.where(q == 0, 0.0, c / safe_q)
    t_in = np.where(moving, np.minimum(r1, r2), lo)
    t_out = np.where(moving, np.maximum(r1, r2), hi)
    ok = np.where(moving, disc > 0, c < 0)
    t_in = np.maximum(t_in, lo)
    t_out = np.minimum(t_out, hi)
    return t_in, t_out, ok & (t_in <= t_out)
