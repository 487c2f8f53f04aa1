"""The OsmAnd / Traccar HTTP query protocol (`?id=&lat=&lon=&timestamp=&speed=...`, as the
Traccar Client and OsmAnd apps send it) to position reports.

Follows Traccar's osmand decoder: `timestamp` in epoch seconds (milliseconds when 2^31 or
more) or ISO 8601, `speed` in knots unless told otherwise. Never takes a party from the
query: it is the party of the credentials.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

from deconflict.ingest.fields import RuleBroken
from deconflict.ingest.limits import DEFAULT_LIMITS, Limits
from deconflict.ingest.positions.reports import (
    KMH_MPS,
    KNOT_MPS,
    MPH_MPS,
    from_text,
    party_name,
    refuse,
    report,
    time_value,
)
from deconflict.model.positions import PositionReport

__all__ = ["SPEED_UNITS", "parse_osmand"]

SpeedUnit = Literal["kn", "mps", "kmh", "mph"]
SPEED_UNITS: dict[str, float] = {"kn": KNOT_MPS, "mps": 1.0, "kmh": KMH_MPS, "mph": MPH_MPS}
"""m/s per unit of the `speed` parameter. Traccar reads it as knots (its `osmand.speed`
setting changes that) and the Traccar Client sends knots; the OsmAnd app's own tracking
sends m/s, so its users choose `mps`."""
_SOURCE = "osmand query"
_MS_FROM = 2**31
"""Traccar's rule: an integer timestamp this large is milliseconds."""


def parse_osmand(
    query: Mapping[str, str | Sequence[str]],
    *,
    party: str,
    speed_unit: SpeedUnit = "kn",
    limits: Limits = DEFAULT_LIMITS,
) -> PositionReport:
    """One query (parameter name to value, or to the list of values a parser such as
    urllib.parse.parse_qs gives) as a report of `party`; InvalidPositions names a broken
    rule. Parameters: `id` (or `deviceid`) the unit, `lat` and `lon` (or `location=lat,lon`),
    `timestamp`, optional `altitude` (m), `speed`, `bearing` (or `heading`) in degrees."""
    try:
        party = party_name(party)
        if speed_unit not in SPEED_UNITS:
            raise RuleBroken(f"speed_unit must be one of {', '.join(SPEED_UNITS)}")
        size = sum(len(k) + len(_one(query, k) or "") for k in query)
        if size > limits.max_message_bytes:
            raise RuleBroken(
                f"the query is {size:,} bytes, more than the limit max_message_bytes = "
                f"{limits.max_message_bytes:,}"
            )
        return _parse(query, party, speed_unit, limits)
    except RuleBroken as broken:
        raise refuse(broken.rule, _SOURCE) from None


def _parse(
    query: Mapping[str, str | Sequence[str]], party: str, speed_unit: str, limits: Limits
) -> PositionReport:
    unit = _one(query, "id") or _one(query, "deviceid")
    if unit is None:
        raise RuleBroken("the query has no 'id' naming the device")
    lat, lon = _one(query, "lat"), _one(query, "lon") or _one(query, "lng")
    location = _one(query, "location")
    if (lat is None or lon is None) and location is not None:
        lat, _, lon = location.partition(",")
    if lat is None or lon is None:
        raise RuleBroken("the query has no 'lat' and 'lon' (nor 'location=lat,lon')")
    stamp = _one(query, "timestamp")
    if stamp is None:
        raise RuleBroken("the query has no 'timestamp'")
    time_s = time_value(stamp, "timestamp")
    if stamp.strip().isdigit() and time_s >= _MS_FROM:
        time_s /= 1000.0

    def optional(*names: str) -> float | None:
        for name in names:
            value = _one(query, name)
            if value is not None and value.strip():
                return from_text(value, name)
        return None

    speed = optional("speed")
    return report(
        unit=unit,
        party=party,
        time_s=time_s,
        lat=from_text(lat, "lat"),
        lon=from_text(lon, "lon"),
        alt_m=optional("altitude"),
        speed_mps=None if speed is None else speed * SPEED_UNITS[speed_unit],
        course_deg=optional("bearing", "heading"),
        source="osmand",
        limits=limits,
    )


def _one(query: Mapping[str, str | Sequence[str]], name: str) -> str | None:
    """The parameter's value; its first when repeated. Anything not text is refused."""
    value = query.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        if not value:
            return None
        value = value[0]
    if not isinstance(value, str):
        raise RuleBroken(f"parameter {name!r} must be text")
    return value
