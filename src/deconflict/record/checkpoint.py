"""C2SP checkpoints (c2sp.org/tlog-checkpoint): the signed head of the record's tree.

It holds the checkpoint body, its time, and signing, cosigning and checking it as a signed
note; it must never emit a body a standard checkpoint verifier cannot read, nor return a
checkpoint that the log's own key has not verified.

Body, one item a line: origin, tree size in decimal, base64 root hash, then optional
extension lines. SPEC §6 also wants the time: it is the first extension line,
`time <YYYY-MM-DDTHH:MM:SSZ>` (RFC 3339, UTC, whole seconds). Standard verifiers ignore
extension lines, and the time is inside the signed text, so the log signs it too.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from deconflict.record.errors import BadSignature, MalformedNote
from deconflict.record.merkle import HASH_SIZE
from deconflict.record.note import (
    Note,
    NoteSigner,
    NoteVerifier,
    check_text,
    cosign_note,
    parse_note,
    sign_note,
    verify_note,
)

MAX_TREE_SIZE = 2**64 - 1
"""Largest tree size read (other implementations hold it in a uint64)."""

_SIZE = re.compile(r"0|[1-9][0-9]*")
_TIME = re.compile(r"time (\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z)")


@dataclass(frozen=True)
class Checkpoint:
    """The head of the log at one size: what a signed checkpoint says."""

    origin: str
    """The log's identity, e.g. `deconflict.example/theatre-1`."""
    tree_size: int
    """Number of entries in the tree."""
    root_hash: bytes
    """RFC 9162 root of the tree of `tree_size` entries (32 bytes)."""
    time: datetime | None = None
    """When the log signed this head (UTC, whole seconds); None if the note has no time."""
    extensions: tuple[str, ...] = field(default=())
    """Other extension lines, kept verbatim after the time line."""

    def __post_init__(self) -> None:
        if not self.origin or "\n" in self.origin:
            raise MalformedNote("a checkpoint origin is one non-empty line.")
        if not 0 <= self.tree_size <= MAX_TREE_SIZE:
            raise MalformedNote(f"the tree size {self.tree_size} is not a 64-bit unsigned size.")
        if len(self.root_hash) != HASH_SIZE:
            raise MalformedNote(f"a root hash has {HASH_SIZE} bytes, not {len(self.root_hash)}.")
        if self.time is not None:
            if self.time.utcoffset() is None or self.time.utcoffset() or self.time.microsecond:
                raise MalformedNote("a checkpoint time is in UTC with whole seconds.")
        for line in self.extensions:
            if not line or "\n" in line:
                raise MalformedNote("an extension line is one non-empty line.")
            if line.startswith("time "):
                raise MalformedNote("the time goes in `time`, not in an extension line.")

    def body(self) -> str:
        """The note text: origin, size, base64 root, then the time and extension lines."""
        lines = [self.origin, str(self.tree_size), base64.b64encode(self.root_hash).decode()]
        if self.time is not None:
            lines.append("time " + self.time.strftime("%Y-%m-%dT%H:%M:%SZ"))
        lines.extend(self.extensions)
        text = "\n".join(lines) + "\n"
        check_text(text)
        return text


@dataclass(frozen=True)
class VerifiedCheckpoint:
    """A checkpoint the log's key signed, and the witnesses that cosigned it."""

    checkpoint: Checkpoint
    """What the log signed."""
    witnesses: tuple[NoteVerifier, ...]
    """Trusted witnesses whose cosignatures verified."""


def make_checkpoint(
    origin: str, tree_size: int, root_hash: bytes, time: datetime | None = None
) -> Checkpoint:
    """A checkpoint stamped `time` (default: now), in UTC to the second."""
    when = datetime.now(UTC) if time is None else time
    if when.utcoffset() is None:
        raise ValueError("a checkpoint time must carry a time zone")
    return Checkpoint(origin, tree_size, root_hash, when.astimezone(UTC).replace(microsecond=0))


def parse_checkpoint_body(text: str) -> Checkpoint:
    """Read a checkpoint body; MalformedNote says which line is wrong."""
    check_text(text)
    lines = text[:-1].split("\n")
    if len(lines) < 3:
        raise MalformedNote("a checkpoint has at least three lines: origin, size, root hash.")
    origin, size, root, *rest = lines
    if not origin:
        raise MalformedNote("the checkpoint's first line, its origin, is empty.")
    if not _SIZE.fullmatch(size) or int(size) > MAX_TREE_SIZE:
        raise MalformedNote("the checkpoint's second line is not a tree size in decimal.")
    try:
        root_hash = base64.b64decode(root, validate=True)
    except ValueError:
        raise MalformedNote("the checkpoint's third line is not a base64 root hash.") from None
    if len(root_hash) != HASH_SIZE or base64.b64encode(root_hash).decode() != root:
        raise MalformedNote("the checkpoint's third line is not a base64 32-byte root hash.")
    time = None
    if rest and rest[0].startswith("time "):
        match = _TIME.fullmatch(rest[0])
        try:
            if match is None:
                raise ValueError
            time = datetime.strptime(match.group(1), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        except ValueError:
            raise MalformedNote(
                "the checkpoint's time line is not 'time YYYY-MM-DDTHH:MM:SSZ'."
            ) from None
        rest = rest[1:]
    if any(not line for line in rest):
        raise MalformedNote("a checkpoint extension line is empty.")
    if any(line.startswith("time ") for line in rest):
        raise MalformedNote("the checkpoint has a second time line.")
    return Checkpoint(origin, int(size), root_hash, time, tuple(rest))


def sign_checkpoint(checkpoint: Checkpoint, signer: NoteSigner) -> str:
    """The checkpoint as a signed note by the log's key."""
    return sign_note(checkpoint.body(), signer)


def cosign_checkpoint(note: str | bytes, witness: NoteSigner) -> str:
    """Add a witness's signature line to a signed checkpoint, keeping every other line.

    The witness is trusted to have checked the log's signature and consistency with
    what it saw before; this only refuses a note whose text is not a checkpoint.
    """
    parse_checkpoint_body(parse_note(note).text)
    return cosign_note(note, witness)


def parse_checkpoint(note: str | bytes) -> tuple[Checkpoint, Note]:
    """Read a signed checkpoint without checking any signature (for display and triage)."""
    parsed = parse_note(note)
    return parse_checkpoint_body(parsed.text), parsed


def verify_checkpoint(
    note: str | bytes,
    log: NoteVerifier,
    witnesses: Iterable[NoteVerifier] = (),
    *,
    quorum: int = 0,
    origin: str | None = None,
) -> VerifiedCheckpoint:
    """Check a signed checkpoint: the log's signature, `quorum` witness cosignatures and,
    if given, the origin. BadSignature or MalformedNote say what failed."""
    witness_list = list(witnesses)
    parsed = parse_note(note)
    checkpoint = parse_checkpoint_body(parsed.text)
    if not any((s.name, s.key_hash) == (log.name, log.key_hash) for s in parsed.signatures):
        raise BadSignature(
            f"the checkpoint is not signed by the log key {log.name}+{log.key_hash:08x}."
        )
    verified = verify_note(parsed, [log, *witness_list])
    if origin is not None and checkpoint.origin != origin:
        raise BadSignature(f"the checkpoint is for the log {checkpoint.origin!r}, not {origin!r}.")
    cosigned = tuple(v for v in verified.signed_by if v != log and v in witness_list)
    if len(cosigned) < quorum:
        raise BadSignature(
            f"the checkpoint has {len(cosigned)} trusted witness cosignatures; "
            f"{quorum} are required."
        )
    return VerifiedCheckpoint(checkpoint, cosigned)
