"""Merging per-segment findings into one conflict per maximal interval (SPEC 3)."""

from __future__ import annotations

from pyproj import Geod

from deconflict.engine import Engine
from deconflict.model import Movement, Policy

GEOD = Geod(ellps="WGS84")
T0 = 1598342400.0


def test_spec_3_at_is_the_closest_approach_even_when_buffers_cover_it() -> None:
    """Two legs of one unit come within the buffers of the other: at 8.45 m on the first and
    at 0.02 m on the second. Both read 0 m once 10 m of buffer are subtracted, but `at` must
    be the midpoint of the true closest approach, on the second leg (found by hypothesis)."""
    m0 = Movement(
        "m0",
        "blue",
        ((0.0, -0.00013565542155755478), (0.057528110795014145, 0.0), (0.057528110795014145, 0.0)),
        (T0, T0 + 2134.6725223, T0 + 2135.6725223),
        time_uncertainty_s=233.0,
    )
    m1 = Movement(
        "m1",
        "green",
        ((0.0, 0.0), (0.029949831572544845, 0.0), (0.0, -0.0003527040960496042)),
        (T0, T0 + 833.5, T0 + 1944.9093654),
        buffer_m=10.0,
    )
    eng = Engine(Policy(horizontal_m=500, vertical_m=300))
    eng.add_many([m0, m1])
    (c,) = eng.all_conflicts()
    assert c.min_distance_m == 0.0
    # The routes cross at lon 0.02307 (solving the two straight lines by hand); m0 reaches
    # the crossing 236 s before m1 would, 3 s more than its uncertainty allows, so the
    # closest approach is centimetres from the crossing, not 8 m away on m1's first leg.
    _, _, off = GEOD.inv(c.at[0], c.at[1], 0.023066, -0.0000811)
    assert off < 1.0
