"""Synthetic theatres for benchmarks: random road-like movements, reproducible by seed."""

from __future__ import annotations

import numpy as np

from deconflict.model import Movement

CENTRE = (40.5, 36.5)  # lon, lat: north-east Syria
DAY_S = 86400.0
T0 = 1598313600.0  # 2020-08-25T00:00:00Z


def movements(
    n: int,
    *,
    seed: int = 1,
    side_km: float = 400.0,
    days: float = 7.0,
    segments: int = 20,
    parties: int = 4,
    prefix: str = "m",
    t0: float = T0,
) -> list[Movement]:
    """`n` ground movements of `segments` legs (3-12 km each at 20-60 km/h, heading
    wandering like a road) starting uniformly over a square theatre and a time window of
    `days` from `t0` (epoch seconds)."""
    rng = np.random.default_rng(seed)
    k = segments + 1
    x = np.empty((n, k))
    y = np.empty((n, k))
    x[:, 0] = rng.uniform(-side_km / 2, side_km / 2, n)
    y[:, 0] = rng.uniform(-side_km / 2, side_km / 2, n)
    heading = rng.uniform(0, 2 * np.pi, n)
    legs_km = rng.uniform(3, 12, (n, segments))
    turns = rng.normal(0, 0.35, (n, segments))
    headings = heading[:, None] + np.cumsum(turns, axis=1)
    x[:, 1:] = x[:, :1] + np.cumsum(legs_km * np.cos(headings), axis=1)
    y[:, 1:] = y[:, :1] + np.cumsum(legs_km * np.sin(headings), axis=1)
    speed = rng.uniform(20, 60, n)
    t = np.zeros((n, k))
    t[:, 1:] = np.cumsum(legs_km / speed[:, None] * 3600.0, axis=1)
    t += (t0 + rng.uniform(0, days * DAY_S, n))[:, None]
    lat = CENTRE[1] + y / 111.2
    lon = CENTRE[0] + x / (111.2 * np.cos(np.radians(CENTRE[1])))
    lon_l = lon.tolist()
    lat_l = lat.tolist()
    t_l = t.tolist()
    party = rng.integers(0, parties, n).tolist()
    return [
        Movement(
            id=f"{prefix}{i}",
            party=f"P{party[i]}",
            positions=tuple(zip(lon_l[i], lat_l[i], strict=True)),
            times_s=tuple(t_l[i]),
        )
        for i in range(n)
    ]
