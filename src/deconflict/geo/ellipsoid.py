"""WGS84 helpers: geodetic <-> Earth-centred Cartesian, local vertical, and exact geodesics.

Every distance the engine reports is finally measured here with pyproj's `Geod` (Karney's
algorithm), so reported figures are geodesic whatever approximation found them.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from pyproj import Geod

FloatArray = npt.NDArray[np.float64]

A_M = 6378137.0
"""WGS84 semi-major axis, metres."""
F = 1.0 / 298.257223563
"""WGS84 flattening."""
B_M = A_M * (1.0 - F)
"""WGS84 semi-minor axis, metres."""
E2 = F * (2.0 - F)
"""First eccentricity squared."""
MEAN_RADIUS_M = 6371008.8

GEOD = Geod(ellps="WGS84")


def to_ecef(lon_deg: npt.ArrayLike, lat_deg: npt.ArrayLike) -> FloatArray:
    """Points on the ellipsoid surface (height 0) as (n, 3) Earth-centred metres."""
    lon = np.radians(np.asarray(lon_deg, dtype=np.float64))
    lat = np.radians(np.asarray(lat_deg, dtype=np.float64))
    sin_lat = np.sin(lat)
    cos_lat = np.cos(lat)
    n = A_M / np.sqrt(1.0 - E2 * sin_lat * sin_lat)
    out = np.empty(lon.shape + (3,), dtype=np.float64)
    out[..., 0] = n * cos_lat * np.cos(lon)
    out[..., 1] = n * cos_lat * np.sin(lon)
    out[..., 2] = n * (1.0 - E2) * sin_lat
    return out


def surface_normal(xyz: FloatArray) -> FloatArray:
    """Unit normal of the ellipsoid (local vertical) at or near Earth-centred points (n, 3)."""
    g = xyz / np.array([A_M * A_M, A_M * A_M, B_M * B_M])
    out: FloatArray = g / np.linalg.norm(g, axis=-1, keepdims=True)
    return out


def points_along(
    lon0: FloatArray, lat0: FloatArray, lon1: FloatArray, lat1: FloatArray, frac: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """Points at fraction `frac` of the geodesic from point 0 to point 1 (vectorised)."""
    az, _, dist = GEOD.inv(lon0, lat0, lon1, lat1)
    lon, lat, _ = GEOD.fwd(lon0, lat0, az, np.asarray(dist) * frac)
    return np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64)


def distance_m(
    lon0: FloatArray, lat0: FloatArray, lon1: FloatArray, lat1: FloatArray
) -> FloatArray:
    """Geodesic distances, metres (vectorised)."""
    _, _, dist = GEOD.inv(lon0, lat0, lon1, lat1)
    return np.asarray(dist, dtype=np.float64)


def midpoints(
    lon0: FloatArray, lat0: FloatArray, lon1: FloatArray, lat1: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """Geodesic midpoints (vectorised)."""
    return points_along(lon0, lat0, lon1, lat1, np.full(np.shape(lon0), 0.5))
