"""Log entries: what one leaf of the record holds, built and read (SPEC §6).

It holds the entry layout and its checks; it must never put content that not every party
may see into an entry — such content goes in as a salted commitment (`private`), and the
content with its salt is returned to be kept beside the log.

An entry is the canonical JSON of one object, one line of text:

    {"v": 1, "index": 41, "prev": "<hex leaf hash of entry 40>", "at": "...Z",
     "type": "declaration", "by": "US-CJTF", "data": {...},
     "commit": {"feature": "<hex commitment>"}, "sig": {...}}

- `index` is the entry's own leaf index and `prev` the leaf hash of the entry before it
  ("" for the first), so an export that lost, gained or reordered entries says where;
- `at` is the service's time of the decision (UTC, milliseconds);
- `by` is the party that caused it, or "@operator" / "@service";
- `data` holds only what every party may see; `commit` the commitments of the rest;
- `sig`, when the party signed its request, names the key and holds the signature over
  the request, whose content is committed as `commit.request` so that whoever is given
  it can check the signature too.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from deconflict.record.canonical import (
    _SLOW,
    Canonical,
    JSONValue,
    _dumps,
    _plain,
    _ready,
    _string,
    canonical_json,
)
from deconflict.record.commitments import commitment_hex, fresh_salt
from deconflict.record.errors import NotCanonical

ENTRY_VERSION = 1
"""The layout version written in every entry's `v`."""

MAX_ENTRY_BYTES = 1 << 20
"""Largest entry read back (a position batch is the largest writer)."""

FIELDS = ("v", "index", "prev", "at", "type", "by", "data", "commit")
"""Members every entry has; `sig` is optional."""
_FIELDS = frozenset(FIELDS)
_decoder = json.JSONDecoder()
_decode = _decoder.decode
_scan: Callable[[str, int], tuple[Any, int]] = _decoder.scan_once  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class Content:
    """Content committed in an entry, kept beside the log: disclosed only as SPEC §4
    allows, each disclosure checkable against the commitment in the entry."""

    name: str
    """The member of the entry's `commit` object it opens."""
    salt: bytes
    content: bytes
    """The committed bytes (canonical JSON unless committed as raw bytes)."""
    commitment_hex: str


@dataclass(frozen=True, slots=True)
class RequestSignature:
    """A party's Ed25519 signature over its request, carried into the entry."""

    key_id: str
    signature: bytes

    def to_json(self) -> dict[str, JSONValue]:
        return {"key_id": self.key_id, "sig": base64.b64encode(self.signature).decode()}


fast_canonical = canonical_json
"""The entries' fast encoder, now `canonical_json` itself (record/canonical.py)."""


@lru_cache(maxsize=4096)
def format_at(at_s: float) -> str:
    """Entry time: RFC 3339 UTC with milliseconds."""
    moment = datetime.fromtimestamp(round(at_s, 3), UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def build_entry(
    index: int,
    prev: bytes | None,
    at_s: float,
    type_: str,
    by: str,
    data: Mapping[str, JSONValue],
    private: Mapping[str, bytes | JSONValue] | None = None,
    signature: RequestSignature | None = None,
) -> tuple[bytes, list[Content]]:
    """The canonical bytes of entry `index` and the contents its commitments open."""
    if index < 0 or (index == 0) != (prev is None):
        raise ValueError("the first entry has no previous hash and every other one has")
    contents: list[Content] = []
    for name, value in sorted((private or {}).items()):
        if isinstance(value, bytes | bytearray | memoryview):
            raw = bytes(value)
        elif type(value) is Canonical:
            raw = value.raw
        else:
            raw = canonical_json(value)
        salt = fresh_salt()
        contents.append(Content(name, salt, raw, commitment_hex(salt, raw)))
    prev_hex = "" if prev is None else prev.hex()
    data = data if type(data) is dict else dict(data)
    raw_entry = _entry_bytes(index, prev_hex, format_at(at_s), type_, by, data, contents, signature)
    if raw_entry is None:  # an unusual member: the general encoder writes or refuses it
        entry: dict[str, JSONValue] = {
            "v": ENTRY_VERSION,
            "index": index,
            "prev": prev_hex,
            "at": format_at(at_s),
            "type": type_,
            "by": by,
            "data": dict(data),
            "commit": {c.name: c.commitment_hex for c in contents},
        }
        if signature is not None:
            entry["sig"] = signature.to_json()
        raw_entry = canonical_json(entry)
    return raw_entry, contents


def _entry_bytes(
    index: int,
    prev_hex: str,
    at: str,
    type_: str,
    by: str,
    data: dict[str, JSONValue],
    contents: list[Content],
    signature: RequestSignature | None,
) -> bytes | None:
    """`canonical_json` of the entry for the layout above, written member by member (they
    are known and sorted, so only `data` needs the general encoder: the rest are hex,
    ASCII names, the time and the index); None for anything unusual (a name or type that
    is not a string, a commitment name outside ASCII, whose code-point and UTF-16 orders
    may differ, data the standard encoder would not write canonically)."""
    ready = data if _plain(data, 1) else _ready(data, 1)
    if ready is _SLOW or type(by) is not str or type(type_) is not str or type(index) is not int:
        return None
    for c in contents:
        if type(c.name) is not str or not c.name.isascii():
            return None
    commits = ",".join([_string(c.name) + ':"' + c.commitment_hex + '"' for c in contents])
    parts = [
        '{"at":"',
        at,
        '","by":',
        _string(by),
        ',"commit":{',
        commits,
        '},"data":',
        _dumps(ready) if ready else "{}",
        ',"index":',
        str(index),
        ',"prev":"',
        prev_hex,
        '",',
    ]
    if signature is not None:
        parts += ['"sig":', _dumps(signature.to_json()), ","]
    parts += ['"type":', _string(type_), ',"v":', str(ENTRY_VERSION), "}"]
    try:
        return "".join(parts).encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: canonical_json says where
        return None


def parse_entry(raw: bytes) -> dict[str, Any]:
    """Read an entry's JSON and check it has the members of the layout; NotCanonical
    says what is wrong (the leaf hash covers the bytes, so they are never rewritten)."""
    if len(raw) > MAX_ENTRY_BYTES:
        raise NotCanonical(f"a log entry is at most {MAX_ENTRY_BYTES} bytes.")
    try:  # entries are UTF-8 (canonical JSON): decoded as such, not sniffed as json.loads does
        text = raw.decode("utf-8")
        try:  # the scanner alone when the text is one value, no space around (every entry)
            entry, end = _scan(text, 0)
        except StopIteration:
            end = -1
        if end != len(text):
            entry = _decode(text)  # what json.loads does; it raises for what is not JSON
    except (ValueError, UnicodeDecodeError):
        raise NotCanonical("a log entry is not JSON.") from None
    if not isinstance(entry, dict):
        raise NotCanonical("a log entry is a JSON object.")
    if not _FIELDS <= entry.keys():
        missing = [f for f in FIELDS if f not in entry]
        raise NotCanonical(f"a log entry lacks the member {missing[0]!r}.")
    if not isinstance(entry["index"], int) or isinstance(entry["index"], bool):
        raise NotCanonical("a log entry's index is an integer.")
    if not isinstance(entry["prev"], str) or not isinstance(entry["commit"], dict):
        raise NotCanonical("a log entry's prev is a string and its commit an object.")
    return entry
