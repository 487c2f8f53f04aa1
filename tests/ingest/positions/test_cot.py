"""CoT events, streams and writers (SPEC section 5), with bytes from a real CoT client
(pytak) sent over a loopback TCP socket to the streaming reader."""

from __future__ import annotations

import asyncio
import configparser
import warnings

import pytest

from deconflict.errors import InvalidPositions, LimitExceeded
from deconflict.ingest.fields import RuleBroken
from deconflict.ingest.limits import Limits
from deconflict.ingest.positions import (
    CotStream,
    alert_to_cot,
    parse_cot,
    parse_cot_event,
    report_to_cot,
)
from deconflict.model.positions import Alert, AlertEvent, AlertType, PositionReport

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # pytak warns on import when optional extras are absent
    import pytak

EVENT = b"""<?xml version="1.0" encoding="UTF-8"?>
<event version="2.0" uid="blue-7" type="a-f-G-U-C" how="m-g"
 time="2020-08-25T09:00:00.000Z" start="2020-08-25T09:00:00.000Z"
 stale="2020-08-25T09:02:00.000Z">
 <point lat="36.95" lon="41.85" hae="350.5" ce="10" le="20"/>
 <detail><track speed="12.5" course="271.0"/><contact callsign="B7"/></detail>
</event>"""


def test_spec_5_cot_event_known_answer() -> None:
    one = parse_cot_event(EVENT, party="blue")
    assert one == PositionReport(
        "blue-7", "blue", 1598346000.0, 41.85, 36.95, 350.5, 12.5, 271.0, None, "cot"
    )


def test_unknown_hae_is_no_altitude_and_non_positions_are_skipped() -> None:
    event = EVENT.replace(b'hae="350.5"', b'hae="9999999.0"')
    one = parse_cot_event(event, party="blue")
    assert one is not None and one.alt_m is None
    assert parse_cot_event(EVENT.replace(b"a-f-G-U-C", b"t-x-c-t"), party="blue") is None


def test_party_never_comes_from_the_event() -> None:
    one = parse_cot_event(
        EVENT.replace(b"<detail>", b'<detail><__group name="red"/>'), party="blue"
    )
    assert one is not None and one.party == "blue"


@pytest.mark.parametrize(
    ("event", "words"),
    [
        (
            b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]>'
            b"<event>&b;</event>",
            "DTD",
        ),
        (
            b'<!DOCTYPE f [<!ENTITY x SYSTEM "file:///etc/passwd">]><event uid="&x;"/>',
            "DTD",
        ),
        (b"<event", "not well-formed"),
        (EVENT.replace(b'lat="36.95"', b'lat="91"'), "lat is 91"),
        (EVENT.replace(b'lat="36.95"', b'lat="nan"'), "lat must be a finite number"),
        (EVENT.replace(b'lon="41.85"', b'lon="east"'), "lon must be a number"),
        (EVENT.replace(b'speed="12.5"', b'speed="-3"'), "speed_mps is -3"),
        (EVENT.replace(b"2020-08-25T09:00:00.000Z", b"yesterday"), "ISO 8601"),
        (EVENT.replace(b'uid="blue-7"', b'uid=""'), "unit must be a non-empty text"),
        (EVENT.replace(b'uid="blue-7"', b'uid="' + b"u" * 200 + b'"'), "max_name_chars"),
        (b"<gpx/>", "not a CoT <event>"),
    ],
)
def test_hostile_or_broken_events_are_refused_in_one_sentence(event: bytes, words: str) -> None:
    with pytest.raises(RuleBroken) as caught:
        parse_cot_event(event, party="blue")
    assert words in caught.value.rule


def test_a_10_mb_event_is_refused_before_parsing() -> None:
    with pytest.raises(RuleBroken, match="max_message_bytes"):
        parse_cot_event(b"<event>" + b" " * 10_000_000 + b"</event>", party="blue")


def test_stream_joins_events_split_anywhere_and_counts_the_rest() -> None:
    ping = b'<event version="2.0" uid="p" type="t-x-c-t" how="h-g-i-g-o"><point lat="0" lon="0"/>'
    broken = EVENT.replace(b'lat="36.95"', b'lat="95"')
    data = EVENT + b"\n" + ping + b"</event>" + broken + EVENT
    for size in (1, 7, 64, len(data)):
        stream = CotStream(party="blue")
        found: list[PositionReport] = []
        for i in range(0, len(data), size):
            found += stream.feed(data[i : i + size])
        assert [r.unit for r in found] == ["blue-7", "blue-7"]
        assert (stream.events, stream.skipped, stream.refused) == (4, 1, 1)
        assert "lat is 95" in stream.problems[0].rule
        assert stream.pending == b""


def test_stream_cuts_an_event_that_never_ends() -> None:
    stream = CotStream(party="blue", limits=Limits(max_message_bytes=1000))
    with pytest.raises(LimitExceeded, match="max_message_bytes"):
        for _ in range(100):
            stream.feed(b"<event>" + b"x" * 100)
    assert stream.feed(EVENT)[0].unit == "blue-7"  # usable again after the cut


def test_stream_refuses_protobuf_and_garbage() -> None:
    with pytest.raises(InvalidPositions, match="protobuf"):
        CotStream(party="blue").feed(b"\xbf\x01\xbf\x12\x00")
    with pytest.raises(InvalidPositions, match="not CoT XML"):
        CotStream(party="blue").feed(b"GET / HTTP/1.1\r\n")


def test_cot_file_names_each_bad_event_and_a_cut_end() -> None:
    with pytest.raises(InvalidPositions) as caught:
        parse_cot(EVENT + EVENT.replace(b'lat="36.95"', b'lat="-91"') + EVENT[:40], party="b")
    text = str(caught.value)
    assert "event 2: lat is -91" in text and "event 3: the input ends in the middle" in text


def test_round_trip_report_to_cot_to_report() -> None:
    report = PositionReport(
        "u 1", "blue", 1598346000.125, 41.123456789, 36.987654321, -12.5, 3.25, 359.5, "m-1", "cot"
    )
    assert parse_cot_event(report_to_cot(report), party="blue") == report
    bare = PositionReport("u2", "red", 1598346001.0, -0.5, 51.5)
    again = parse_cot_event(report_to_cot(bare), party="red")
    assert again == PositionReport("u2", "red", 1598346001.0, -0.5, 51.5, source="cot")


def test_alert_to_cot_opens_and_cancels_with_a_stable_uid() -> None:
    alert = Alert(
        "a1",
        AlertEvent.OPEN,
        AlertType.PREDICTED_PROXIMITY,
        1598346000.0,
        ("blue/b1", "red/r1"),
        ("blue", "red"),
        900.0,
        1598346060.0,
        150.0,
    )
    opened = alert_to_cot(alert, lat=36.9, lon=41.8)
    closed = alert_to_cot(
        Alert("a1", AlertEvent.CLOSE, alert.type, 1598346300.0, alert.units, alert.parties),
        lat=36.9,
        lon=41.8,
    )
    assert b'type="b-a-o-tbl"' in opened and b'uid="deconflict-alert-a1"' in opened
    assert b'type="b-a-o-can"' in closed and b'uid="deconflict-alert-a1"' in closed
    assert b"closest 150 m at 2020-08-25T09:01:00.000Z" in opened
    assert parse_cot_event(opened, party="blue") is None  # an alert is not a position


def test_events_from_pytak_parse() -> None:
    sent = pytak.gen_cot(lat=36.5, lon=41.25, hae=300, uid="red-3", cot_type="a-h-G")
    assert sent is not None
    one = parse_cot_event(sent, party="red")
    assert one is not None and (one.unit, one.lat, one.lon, one.alt_m) == (
        "red-3",
        36.5,
        41.25,
        300,
    )


def test_a_pytak_client_streams_events_over_tcp_to_the_reader() -> None:
    async def run() -> tuple[list[PositionReport], CotStream]:
        stream = CotStream(party="red", source="tcp")
        found: list[PositionReport] = []
        done = asyncio.Event()

        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            while data := await reader.read(97):  # odd size: events arrive cut anywhere
                found.extend(stream.feed(data))
            writer.close()
            await writer.wait_closed()
            done.set()

        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        config = configparser.ConfigParser()
        config["t"] = {"COT_URL": f"tcp://127.0.0.1:{port}"}
        _, writer = await pytak.protocol_factory(config["t"])
        for i in range(50):
            event = pytak.gen_cot(lat=36 + i / 100, lon=41.5, uid=f"r{i}", cot_type="a-h-G")
            assert event is not None
            writer.write(event)
        writer.write(pytak.functions.tak_pong())
        await writer.drain()
        writer.close()
        await writer.wait_closed()
        await asyncio.wait_for(done.wait(), 10)
        server.close()
        await server.wait_closed()
        return found, stream

    found, stream = asyncio.run(run())
    assert [r.unit for r in found] == [f"r{i}" for i in range(50)]
    assert found[7].lat == pytest.approx(36.07) and all(r.party == "red" for r in found)
    assert stream.skipped == 1 and stream.refused == 0
