"""OwnTracks JSON messages (MQTT or HTTP mode) to position reports.

Takes `_type: location` messages: lat, lon, tst (epoch s), alt (m), vel (km/h), cog
(degrees). Other message types (transition, waypoint, lwt, card...) are not positions.
Never takes the party from a message: it is the party of the credentials.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from deconflict.ingest.fields import NonFinite, RuleBroken, describe
from deconflict.ingest.limits import DEFAULT_LIMITS, Limits
from deconflict.ingest.positions.reports import (
    KMH_MPS,
    check_size,
    from_json,
    party_name,
    refuse,
    report,
)
from deconflict.model.positions import PositionReport

__all__ = ["parse_owntracks", "unit_from_topic"]

_SOURCE = "owntracks message"


def parse_owntracks(
    message: bytes | str | Mapping[str, Any],
    *,
    party: str,
    unit: str | None = None,
    topic: str | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> PositionReport | None:
    """One OwnTracks message as a report of `party`, or None when it is not a location.

    The unit is, first found: `unit` (e.g. from the HTTP user and device), the MQTT
    `topic` the message came on (`owntracks/<user>/<device>` gives `user/device`), the
    message's own `topic`, then its `tid`. InvalidPositions names a broken rule."""
    try:
        party = party_name(party)
        doc = _decode(message, limits) if not isinstance(message, Mapping) else message
        if not isinstance(doc, Mapping):
            raise RuleBroken(f"the message must be a JSON object, not {describe(doc)}")
        if doc.get("_type") != "location":
            return None
        return _location(doc, party, unit, topic, limits)
    except RuleBroken as broken:
        raise refuse(broken.rule, _SOURCE) from None


def unit_from_topic(topic: str) -> str:
    """`owntracks/jane/phone` -> `jane/phone`; any other topic is kept whole."""
    parts = topic.split("/")
    if len(parts) >= 3 and parts[0] == "owntracks":
        return "/".join(parts[1:3])
    return topic


def _location(
    doc: Mapping[str, Any], party: str, unit: str | None, topic: str | None, limits: Limits
) -> PositionReport:
    for name in ("lat", "lon", "tst"):
        if name not in doc:
            raise RuleBroken(f"the location has no {name!r}")
    if unit is None:
        own = topic if topic is not None else doc.get("topic")
        if isinstance(own, str) and own:
            unit = unit_from_topic(own)
        elif doc.get("tid") is not None:
            unit = doc["tid"]
        else:
            raise RuleBroken("the location names no unit: it has neither 'topic' nor 'tid'")

    def optional(name: str) -> float | None:
        return None if doc.get(name) is None else from_json(doc[name], name)

    speed_kmh = optional("vel")
    return report(
        unit=unit,
        party=party,
        time_s=from_json(doc["tst"], "tst"),
        lat=from_json(doc["lat"], "lat"),
        lon=from_json(doc["lon"], "lon"),
        alt_m=optional("alt"),
        speed_mps=None if speed_kmh is None else speed_kmh * KMH_MPS,
        course_deg=optional("cog"),
        source="owntracks",
        limits=limits,
    )


def _decode(message: bytes | str, limits: Limits) -> object:
    check_size(len(message), limits.max_message_bytes, "max_message_bytes", "the message")
    try:
        return json.loads(message, parse_constant=NonFinite)
    except json.JSONDecodeError as e:
        raise RuleBroken(f"not valid JSON at line {e.lineno}, column {e.colno}: {e.msg}") from None
    except UnicodeDecodeError as e:
        raise RuleBroken(f"not UTF-8 text (byte {e.start} cannot be decoded)") from None
    except (ValueError, RecursionError):
        raise RuleBroken("not a readable JSON message") from None
