"""Geodesy and vectorised geometry on WGS84. Pure numpy/pyproj/shapely: no I/O, no state."""
