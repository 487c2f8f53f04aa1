"""Cursor-on-Target listeners: a TCP stream listener (TAK clients; alerts go back out to
them as CoT) and a UDP listener (one event per datagram).

Credentials travel in CoT itself, as `<detail><deconflict token="dcf_<id>_<secret>"/>`:
- TCP: the first event of a connection must carry the token (a position, or a ping such as
  `t-x-c-t`); the connection then belongs to that party for its life, and tokens in later
  events are ignored. No valid token in the first event, or none within `cot_timeout_s`:
  the connection is closed.
- UDP: every datagram carries one event and its own token; a datagram without a valid one
  is dropped and counted.
A unit reports for the party of the token, never another: CoT has no party field.

Bounds: an event is at most `max_message_bytes` (the connection is closed past it); an
event started must end within `cot_timeout_s`; a connection silent for 10 times that is
closed; at most `cot_max_connections` at once; alerts a client does not read within
`cot_timeout_s` close its connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from typing import Any

from sqlalchemy import text

from deconflict.errors import DeconflictError
from deconflict.ingest.fields import RuleBroken
from deconflict.ingest.positions.cot import CotStream, alert_to_cot, parse_cot_event
from deconflict.ingest.positions.xml import local, parse_xml
from deconflict.ingest.times import parse_time
from deconflict.model.positions import Alert, AlertEvent, AlertType, PositionReport
from deconflict.service.auth import Principal
from deconflict.service.core import Service
from deconflict.service.sources import LastSeen, Tally, feed, principal_of

log = logging.getLogger("deconflict.cot")

_END = b"</event>"
READ_BYTES = 65536
UDP_BATCH = 1000
"""Datagrams fed to the monitor together at most."""


def token_of(event: Any) -> str | None:
    """The token of an event's `<detail><deconflict token=.../>`, or None."""
    detail = event.find("detail")
    ours = detail.find("deconflict") if detail is not None else None
    token = ours.get("token") if ours is not None else None
    return token if isinstance(token, str) and token else None


def alert_from_json(doc: dict[str, Any]) -> Alert:
    """An alert as the service's events carry it (alert_json), back to an Alert."""

    def when(value: Any) -> float | None:
        return None if value is None else parse_time(str(value), "time")

    time_s = when(doc["time"])
    assert time_s is not None
    return Alert(
        str(doc["alert"]),
        AlertEvent(doc["event"]),
        AlertType(doc["type"]),
        time_s,
        tuple(doc["units"]),
        tuple(doc["parties"]),
        doc.get("distance_m"),
        when(doc.get("cpa_time")),
        doc.get("cpa_distance_m"),
        tuple(doc.get("declarations") or ()),
    )


class CotTcpListener:
    """CoT over TCP, both ways: positions in, the party's alerts out."""

    def __init__(self, svc: Service, seen: LastSeen) -> None:
        self.svc = svc
        self.seen = seen
        self.tally = Tally("cot tcp")
        self.server: asyncio.Server | None = None
        self.tasks: set[asyncio.Task[None]] = set()
        self.port = 0

    async def start(self) -> None:
        s = self.svc.settings
        self.server = await asyncio.start_server(
            self._connection, s.cot_host, s.cot_tcp_port, limit=READ_BYTES
        )
        self.port = self.server.sockets[0].getsockname()[1]
        log.info("CoT TCP listener on %s:%d", s.cot_host, self.port)

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
        for task in list(self.tasks):
            task.cancel()
        for task in list(self.tasks):
            with contextlib.suppress(BaseException):
                await task
        if self.server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.server.wait_closed(), 5)

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        if len(self.tasks) >= self.svc.settings.cot_max_connections:
            self.tally.refuse("refused_connections", "too many connections")
            writer.close()
            return
        self.tasks.add(task)
        self.tally.add("connections")
        try:
            await self._serve(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self.tasks.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.wait_closed(), 1)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        s = self.svc.settings
        timeout = s.cot_timeout_s
        try:
            async with asyncio.timeout(timeout):
                first = await self._first_event(reader)
        except TimeoutError:
            self.tally.refuse("refused_auth", "no complete first event in time")
            return
        if first is None:
            return
        who, reports, rest = first
        stream = CotStream(party=who.party, limits=s.limits, source="cot tcp")
        sender = asyncio.create_task(self._send_alerts(who, writer))
        taken = len(reports)
        try:
            await feed(self.svc, who, reports, self.tally, self.seen)
            data = rest
            started: float | None = None
            while True:
                if data:
                    refused = stream.refused
                    try:
                        reports = stream.feed(data)
                    except DeconflictError as e:
                        self.tally.refuse("closed_bad_stream", str(e)[:200])
                        return
                    self.tally.add("events_refused", stream.refused - refused)
                    taken += len(reports)
                    await feed(self.svc, who, reports, self.tally, self.seen)
                    if stream.pending:
                        started = started or time.monotonic()
                    else:
                        started = None
                wait = 10 * timeout
                if started is not None:
                    wait = started + timeout - time.monotonic()
                    if wait <= 0:
                        self.tally.refuse("closed_slow_event", "an event did not end in time")
                        return
                try:
                    data = await asyncio.wait_for(reader.read(READ_BYTES), wait)
                except TimeoutError:
                    if started is not None:
                        self.tally.refuse("closed_slow_event", "an event did not end in time")
                    else:
                        self.tally.add("closed_idle")
                    return
                if not data:
                    return
                if sender.done():
                    return
        finally:
            sender.cancel()
            # Bounded: the connection closes even if the sender does not end at once.
            await asyncio.wait({sender}, timeout=1.0)
            if sender.done() and not sender.cancelled():
                sender.exception()  # retrieved: the connection is closing anyway
            log.info(
                "CoT TCP connection of %s closed: %d reports, %d events (%d refused, %d not "
                "positions)",
                who.party,
                taken,
                stream.events + 1,
                stream.refused,
                stream.skipped,
            )

    async def _first_event(
        self, reader: asyncio.StreamReader
    ) -> tuple[Principal, list[PositionReport], bytes] | None:
        """The party of the connection, the reports of its first event and the bytes after
        it; None (counted) when the first event gives no valid token."""
        limit = self.svc.settings.limits.max_message_bytes
        buffer = bytearray()
        while True:
            end = buffer.find(_END)
            if end >= 0:
                break
            if len(buffer) > limit:
                self.tally.refuse("refused_auth", "first event larger than max_message_bytes")
                return None
            chunk = await reader.read(READ_BYTES)
            if not chunk:
                if buffer.strip():
                    self.tally.refuse("refused_auth", "closed before the first event ended")
                return None
            if not buffer and chunk.lstrip()[:1] not in (b"<", b""):
                self.tally.refuse("refused_auth", "not CoT XML")
                return None
            buffer += chunk
        cut = end + len(_END)
        if cut > limit:
            self.tally.refuse("refused_auth", "first event larger than max_message_bytes")
            return None
        head, rest = bytes(buffer[:cut]).strip(), bytes(buffer[cut:])
        try:
            event = parse_xml(head, "the first event")
        except RuleBroken as broken:
            self.tally.refuse("refused_auth", broken.rule)
            return None
        token = token_of(event) if local(event.tag) == "event" else None
        who = await asyncio.to_thread(principal_of, self.svc, token) if token else None
        if who is None:
            self.tally.refuse(
                "refused_auth", "the first event carries no valid <deconflict token=...>"
            )
            return None
        log.info("CoT TCP connection authenticated as %s (token %s)", who.party, who.token_id)
        reports: list[PositionReport] = []
        try:
            one = parse_cot_event(event, party=who.party, limits=self.svc.settings.limits)
        except (RuleBroken, DeconflictError) as e:
            self.tally.refuse("events_refused", str(e)[:200])
            one = None
        if one is not None:
            reports.append(one)
        return who, reports, rest

    async def _send_alerts(self, who: Principal, writer: asyncio.StreamWriter) -> None:
        """Every alert event of `who` from now on, as CoT on this connection."""
        svc = self.svc
        sub = svc.hub.subscribe()
        try:
            after = await asyncio.to_thread(_last_seq, svc, who.party)
            while True:
                rows = await asyncio.to_thread(_events, svc, who.party, after)
                for row in rows:
                    after = row.seq
                    if row.type != "alert":
                        continue
                    data = self._alert_cot(json.loads(row.payload)["alert"])
                    if data is None:
                        continue
                    writer.write(data)
                    async with asyncio.timeout(svc.settings.cot_timeout_s):
                        await writer.drain()
                    self.tally.add("alerts_sent")
                if not rows:
                    await sub.wait(5.0)
        except (TimeoutError, ConnectionError):
            self.tally.add("closed_not_reading")
        finally:
            sub.close()

    def _alert_cot(self, doc: dict[str, Any]) -> bytes | None:
        try:
            alert = alert_from_json(doc)
        except (KeyError, ValueError, RuleBroken, DeconflictError):
            log.exception("an alert event could not be read back")
            return None
        where = self.seen.place(self.svc, alert.units)
        if where is None:
            self.tally.add("alerts_unplaced")
            return None
        return alert_to_cot(
            alert, lat=where[0], lon=where[1], cot_type=self.svc.settings.cot_alert_type
        )


def _last_seq(svc: Service, party: str) -> int:
    with svc.read() as repo:
        found = repo.conn.execute(
            text("SELECT max(seq) FROM events WHERE recipient = :r"), {"r": party}
        ).scalar()
    return int(found or 0)


def _events(svc: Service, party: str, after: int) -> list[Any]:
    with svc.read() as repo:
        return list(repo.events_after(party, after, 200))


class CotUdpListener:
    """CoT over UDP: one event per datagram, each with its own token."""

    def __init__(self, svc: Service, seen: LastSeen) -> None:
        self.svc = svc
        self.seen = seen
        self.tally = Tally("cot udp")
        self.transport: asyncio.DatagramTransport | None = None
        self.port = 0
        self.queue: asyncio.Queue[bytes] = asyncio.Queue(maxsize=1024)
        self.worker: asyncio.Task[None] | None = None

    async def start(self) -> None:
        s = self.svc.settings
        loop = asyncio.get_running_loop()
        listener = self

        class Protocol(asyncio.DatagramProtocol):
            def datagram_received(self, data: bytes, addr: Any) -> None:
                try:
                    listener.queue.put_nowait(data)
                except asyncio.QueueFull:
                    listener.tally.refuse("dropped_busy", "the queue of datagrams is full")

        transport, _ = await loop.create_datagram_endpoint(
            Protocol, local_addr=(s.cot_host, s.cot_udp_port)
        )
        self.transport = transport
        self.port = transport.get_extra_info("sockname")[1]
        self.worker = asyncio.create_task(self._work())
        log.info("CoT UDP listener on %s:%d", s.cot_host, self.port)

    async def stop(self) -> None:
        if self.transport is not None:
            self.transport.close()
        if self.worker is not None:
            self.worker.cancel()
            with contextlib.suppress(BaseException):
                await self.worker

    async def _work(self) -> None:
        """Datagrams waiting are read together and fed as one batch per party."""
        while True:
            waiting = [await self.queue.get()]
            while not self.queue.empty() and len(waiting) < UDP_BATCH:
                waiting.append(self.queue.get_nowait())
            batches: dict[Principal, list[PositionReport]] = {}
            for data in waiting:
                try:
                    found = await self._datagram(data)
                except Exception:  # one datagram never stops the listener
                    log.exception("a CoT datagram failed")
                    continue
                if found is not None:
                    batches.setdefault(found[0], []).append(found[1])
            for who, reports in batches.items():
                await feed(self.svc, who, reports, self.tally, self.seen)

    async def _datagram(self, data: bytes) -> tuple[Principal, PositionReport] | None:
        limits = self.svc.settings.limits
        self.tally.add("datagrams")
        if len(data) > limits.max_message_bytes:
            self.tally.refuse("dropped_invalid", "larger than max_message_bytes")
            return None
        try:
            event = parse_xml(data.strip(), "the datagram")
        except RuleBroken as broken:
            self.tally.refuse("dropped_invalid", broken.rule)
            return None
        token = token_of(event) if local(event.tag) == "event" else None
        who = await asyncio.to_thread(principal_of, self.svc, token) if token else None
        if who is None:
            self.tally.refuse("refused_auth", "no valid <deconflict token=...> in the event")
            return None
        try:
            one = parse_cot_event(event, party=who.party, limits=limits)
        except (RuleBroken, DeconflictError) as e:
            self.tally.refuse("dropped_invalid", str(e)[:200])
            return None
        return None if one is None else (who, one)
