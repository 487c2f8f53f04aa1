"""OwnTracks positions over MQTT (setting `mqtt_url`).

The threat: the broker may be anonymous, so anyone can publish on any topic. The topic
therefore proves nothing; every message proves its party itself:

- topic `owntracks/<token id>/<device>`: the public id of one of the party's tokens (the
  `<id>` of `dcf_<id>_<secret>`) and the device, which is the unit's name;
- payload: `{"_type": "deconflict", "msg": "<the OwnTracks JSON, as a string>", "mac":
  "<hex HMAC-SHA256>"}`, the MAC over `topic + "\\n" + msg` (UTF-8) with the key
  SHA-256(<secret>), the 32 bytes the service keeps of the token. So a message cannot be
  forged without the secret, nor moved to another unit or party.

A message that fails (unknown or revoked token, bad MAC, not the envelope, not JSON, too
big) is dropped and counted, never ingested. A replayed message repeats a report already
taken: the monitor counts it as `duplicate` or `out_of_order` and raises nothing.
Positions are not encrypted: on an anonymous broker anyone subscribed reads them (use a
broker with TLS and ACLs where that matters).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
from urllib.parse import urlsplit

import aiomqtt

from deconflict.errors import DeconflictError
from deconflict.ingest.positions.owntracks import parse_owntracks
from deconflict.service.auth import Principal
from deconflict.service.core import Service
from deconflict.service.sources import LastSeen, Tally, feed

log = logging.getLogger("deconflict.mqtt")

TOPICS = "owntracks/+/+"
RETRY_S = 2.0


def mqtt_key(token: str) -> bytes:
    """The HMAC key of a token `dcf_<id>_<secret>`: SHA-256 of the secret."""
    return hashlib.sha256(token.split("_", 2)[2].encode()).digest()


def mqtt_envelope(token: str, device: str, message: str) -> tuple[str, bytes]:
    """(topic, payload) of one OwnTracks message, as a client publishes it."""
    topic = f"owntracks/{token.split('_', 2)[1]}/{device}"
    mac = hmac.new(mqtt_key(token), f"{topic}\n{message}".encode(), hashlib.sha256).hexdigest()
    payload = json.dumps({"_type": "deconflict", "msg": message, "mac": mac})
    return topic, payload.encode()


class MqttSource:
    """Subscribes to `owntracks/+/+` and feeds the live monitor; reconnects forever."""

    def __init__(self, svc: Service, seen: LastSeen) -> None:
        self.svc = svc
        self.seen = seen
        self.tally = Tally("mqtt")
        self.task: asyncio.Task[None] | None = None
        self.subscribed = asyncio.Event()
        url = urlsplit(svc.settings.mqtt_url)
        self.host = url.hostname or "127.0.0.1"
        self.port = url.port or 1883

    async def start(self) -> None:
        self.task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(BaseException):
                await self.task

    async def _run(self) -> None:
        while True:
            try:
                async with aiomqtt.Client(self.host, self.port) as client:
                    await client.subscribe(TOPICS, qos=1)
                    log.info("MQTT: subscribed to %s on %s:%d", TOPICS, self.host, self.port)
                    self.subscribed.set()
                    async for message in client.messages:
                        payload = message.payload
                        if not isinstance(payload, bytes | bytearray):
                            self.tally.refuse("refused_invalid", "the payload is not bytes")
                            continue
                        await self._message(message.topic.value, bytes(payload))
            except aiomqtt.MqttError as e:
                self.subscribed.clear()
                log.warning("MQTT: %s; retrying in %.0f s", e, RETRY_S)
                await asyncio.sleep(RETRY_S)

    async def _message(self, topic: str, payload: bytes) -> None:
        self.tally.add("messages")
        limits = self.svc.settings.limits
        if len(payload) > limits.max_message_bytes:
            self.tally.refuse("refused_invalid", "larger than max_message_bytes")
            return
        parts = topic.split("/")
        if len(parts) != 3 or not parts[2]:
            self.tally.refuse("refused_invalid", "the topic is not owntracks/<token id>/<device>")
            return
        try:
            doc = json.loads(payload)
        except (ValueError, RecursionError):
            self.tally.refuse("refused_auth", "the payload is not the JSON envelope")
            return
        msg = doc.get("msg") if isinstance(doc, dict) else None
        mac = doc.get("mac") if isinstance(doc, dict) else None
        if doc_type(doc) != "deconflict" or not isinstance(msg, str) or not isinstance(mac, str):
            self.tally.refuse("refused_auth", "the payload is not the signed envelope")
            return
        who = await asyncio.to_thread(self._verify, parts[1], topic, msg, mac)
        if who is None:
            self.tally.refuse("refused_auth", f"no valid MAC for token id {parts[1][:20]!r}")
            return
        try:
            one = parse_owntracks(msg, party=who.party, unit=parts[2], limits=limits)
        except DeconflictError as e:
            self.tally.refuse("refused_invalid", str(e)[:200])
            return
        if one is None:
            self.tally.add("skipped")
            return
        await feed(self.svc, who, [one], self.tally, self.seen)

    def _verify(self, token_id: str, topic: str, msg: str, mac: str) -> Principal | None:
        with self.svc.read() as repo:
            row = repo.token(token_id)
        if row is None or row.revoked_s is not None:
            return None
        try:
            key = bytes.fromhex(row.secret_sha256)
        except ValueError:
            return None
        want = hmac.new(key, f"{topic}\n{msg}".encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(want.encode(), mac.lower().encode()):
            return None
        who = Principal(row.party, row.token_id)
        return None if who.is_operator else who


def doc_type(doc: object) -> object:
    return doc.get("_type") if isinstance(doc, dict) else None
