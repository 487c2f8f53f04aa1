"""What the non-HTTP position sources (CoT over TCP and UDP, OwnTracks over MQTT) share:
the party of a token, counters of what was taken and refused, feeding the live monitor
from the event loop, and starting and stopping the sources with the app.

Never log a token or a secret: a token is shown by its public id only.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter, OrderedDict
from collections.abc import Sequence
from typing import Any, Protocol

from deconflict.errors import DeconflictError
from deconflict.model.positions import PositionReport
from deconflict.service.auth import Principal, authenticate
from deconflict.service.core import Service
from deconflict.service.live import live

log = logging.getLogger("deconflict.sources")

KEEP_POSITIONS = 200_000
"""Last positions kept (per party/unit) to place alerts sent as CoT."""


class Tally:
    """Counters of one source (`taken`, `refused_auth`, ...). A refusal is logged the first
    ten times, then at every power of two, so a flood cannot fill the log."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.counts: Counter[str] = Counter()

    def add(self, name: str, n: int = 1) -> None:
        self.counts[name] += n

    def refuse(self, name: str, why: str) -> None:
        self.counts[name] += 1
        count = self.counts[name]
        if count <= 10 or count & (count - 1) == 0:
            log.warning("%s: refused (%s, %d so far): %s", self.source, name, count, why)


def principal_of(svc: Service, token: str) -> Principal | None:
    """The party behind a `dcf_<id>_<secret>` token; None for a bad, revoked or operator
    token (the operator has no units)."""
    try:
        with svc.read() as repo:
            who = authenticate(repo, f"Bearer {token}")
    except DeconflictError:
        return None
    return None if who.is_operator else who


class LastSeen:
    """The last position of each `party/unit` reported through these sources."""

    def __init__(self) -> None:
        self._where: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def note(self, reports: Sequence[PositionReport]) -> None:
        for r in reports:
            key = f"{r.party}/{r.unit}"
            self._where[key] = (r.lat, r.lon)
            self._where.move_to_end(key)
        while len(self._where) > KEEP_POSITIONS:
            self._where.popitem(last=False)

    def place(self, svc: Service, units: Sequence[str]) -> tuple[float, float] | None:
        """The midpoint of the units' last known positions, or None when none is known."""
        recent: dict[tuple[str, str], list[PositionReport]] = (
            getattr(svc.live, "_recent", None) or {}
        )
        found = []
        for u in units:
            at = self._where.get(u)
            if at is None:
                party, _, unit = u.partition("/")
                kept = recent.get((party, unit))
                if kept:
                    at = (kept[-1].lat, kept[-1].lon)
            if at is not None:
                found.append(at)
        if not found:
            return None
        return (
            sum(a[0] for a in found) / len(found),
            sum(a[1] for a in found) / len(found),
        )


async def feed(
    svc: Service, who: Principal, reports: Sequence[PositionReport], tally: Tally, seen: LastSeen
) -> None:
    """One batch of `who`'s reports into the live monitor (in a thread: it takes the
    writer lock); a refusal is counted, never raised."""
    if not reports:
        return
    try:
        await asyncio.to_thread(live(svc).ingest, who, list(reports))
    except DeconflictError as e:
        tally.refuse("refused_batch", f"{type(e).__name__}: {str(e)[:200]}")
        return
    seen.note(reports)
    tally.add("reports", len(reports))


class Source(Protocol):
    tally: Tally

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


class Sources:
    """The sources the settings turn on (none by default)."""

    def __init__(self, svc: Service) -> None:
        from deconflict.service.cot_listener import CotTcpListener, CotUdpListener
        from deconflict.service.mqtt import MqttSource

        self.seen = LastSeen()
        self.running: list[Source] = []
        s = svc.settings
        self.wanted: list[Source] = []
        if s.cot_tcp_port:
            self.wanted.append(CotTcpListener(svc, self.seen))
        if s.cot_udp_port:
            self.wanted.append(CotUdpListener(svc, self.seen))
        if s.mqtt_url:
            self.wanted.append(MqttSource(svc, self.seen))

    async def start(self) -> None:
        for source in self.wanted:
            await source.start()
            self.running.append(source)

    async def stop(self) -> None:
        for source in reversed(self.running):
            try:
                await source.stop()
            except Exception:  # stopping one must not keep the others running
                log.exception("stopping %s failed", source.tally.source)
            log.info("%s: %s", source.tally.source, dict(source.tally.counts))
        self.running.clear()

    def counts(self) -> dict[str, Any]:
        return {s.tally.source: dict(s.tally.counts) for s in self.running}
