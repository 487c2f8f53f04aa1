"""Messages from trackers over the network: OwnTracks JSON and OsmAnd/Traccar queries. The
party always comes from the caller (the credentials), never from the message."""

from __future__ import annotations

import json
from urllib.parse import parse_qs

import pytest

from deconflict.errors import InvalidPositions, LimitExceeded
from deconflict.ingest.positions import parse_osmand, parse_owntracks
from deconflict.model.positions import PositionReport

T0 = 1598346000.0
LOCATION = {
    "_type": "location",
    "lat": 36.95,
    "lon": 41.85,
    "tst": 1598346000,
    "alt": 350,
    "vel": 36,
    "cog": 271,
    "tid": "JJ",
    "acc": 5,
    "batt": 80,
}


def test_owntracks_known_answer_and_unit_choice() -> None:
    one = parse_owntracks(json.dumps(LOCATION).encode(), party="blue")
    assert one == PositionReport(
        "JJ", "blue", T0, 41.85, 36.95, 350.0, 10.0, 271.0, source="owntracks"
    )
    on_topic = parse_owntracks(LOCATION, party="blue", topic="owntracks/jane/phone")
    assert on_topic is not None and on_topic.unit == "jane/phone"
    given = parse_owntracks({**LOCATION, "party": "red"}, party="blue", unit="u9")
    assert given is not None and given.key == ("blue", "u9")
    assert parse_owntracks({"_type": "transition"}, party="blue") is None


@pytest.mark.parametrize(
    ("message", "words"),
    [
        (b"[1, 2]", "must be a JSON object"),
        (b"{", "not valid JSON"),
        (
            b'{"_type": "location", "lat": NaN, "lon": 1, "tst": 1598346000, "tid": "a"}',
            "lat must be a number, not NaN",
        ),
        (json.dumps({**LOCATION, "lat": "36"}).encode(), "lat must be a number"),
        (json.dumps({**LOCATION, "lat": True}).encode(), "not a boolean"),
        (json.dumps({**LOCATION, "lat": 91}).encode(), "lat is 91"),
        (json.dumps({**LOCATION, "vel": -5}).encode(), "speed_mps is -1.38889"),
        (json.dumps({**LOCATION, "tst": 10**400}).encode(), "tst must be a finite number"),
        (json.dumps({k: v for k, v in LOCATION.items() if k != "tid"}).encode(), "no unit"),
        (b"[" * 100_00 + b"]" * 100_00, "not a readable JSON"),
    ],
)
def test_owntracks_hostile_messages_are_refused(message: bytes, words: str) -> None:
    with pytest.raises(InvalidPositions) as caught:
        parse_owntracks(message, party="blue")
    assert words in caught.value.message and caught.value.message.count("\n") == 0


def test_owntracks_10_mb_message_is_refused_unread() -> None:
    with pytest.raises(LimitExceeded, match="max_message_bytes"):
        parse_owntracks(b" " * 10_000_000, party="blue")


def test_osmand_traccar_query_known_answer() -> None:
    query = parse_qs(
        "id=123&lat=36.95&lon=41.85&timestamp=1598346000&speed=10&bearing=90&altitude=350&batt=80"
    )
    one = parse_osmand(query, party="red")
    assert one == PositionReport(
        "123", "red", T0, 41.85, 36.95, 350.0, 10 * 1852 / 3600, 90.0, source="osmand"
    )
    ms = parse_osmand({"id": "1", "location": "1,2", "timestamp": "1598346000500"}, party="r")
    assert (ms.time_s, ms.lat, ms.lon) == (T0 + 0.5, 1.0, 2.0)
    iso = parse_osmand(
        {
            "deviceid": "1",
            "lat": "1",
            "lon": "2",
            "timestamp": "2020-08-25T09:00:00Z",
            "speed": "5",
            "heading": "5",
        },
        party="r",
        speed_unit="mps",
    )
    assert (iso.time_s, iso.speed_mps, iso.course_deg) == (T0, 5.0, 5.0)


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ({"lat": "1", "lon": "2", "timestamp": "1598346000"}, "no 'id'"),
        ({"id": "1", "lat": "1", "timestamp": "1598346000"}, "no 'lat' and 'lon'"),
        ({"id": "1", "lat": "1", "lon": "2"}, "no 'timestamp'"),
        ({"id": "1", "lat": "inf", "lon": "2", "timestamp": "1598346000"}, "finite"),
        ({"id": "1", "lat": "1", "lon": "200", "timestamp": "1598346000"}, "lon is 200"),
        ({"id": "1", "lat": "1", "lon": "2", "timestamp": "soon"}, "ISO 8601"),
        ({"id": "1", "lat": "1", "lon": "2", "timestamp": "1598346000", "speed": "x"}, "speed"),
        ({"id": "1", "lat": "1" * 100, "lon": "2", "timestamp": "1598346000"}, "too long"),
        ({"id": "x" * 100_000, "lat": "1", "lon": "2", "timestamp": "1"}, "max_message_bytes"),
    ],
)
def test_osmand_bad_queries_are_refused(query: dict[str, str], words: str) -> None:
    with pytest.raises(InvalidPositions) as caught:
        parse_osmand(query, party="red")
    assert words in caught.value.message


def test_network_party_must_be_a_party_name() -> None:
    with pytest.raises(InvalidPositions, match="party must be"):
        parse_osmand({"id": "1"}, party="no spaces allowed")
