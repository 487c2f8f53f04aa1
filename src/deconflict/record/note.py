"""C2SP signed notes (c2sp.org/signed-note): Ed25519 note keys, signing, cosigning, checks.

It holds the note text format and its key strings; it must never return the text of a
note that no trusted key has verified, nor drop or reorder the signature lines it keeps.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass

from deconflict.record.errors import BadKey, BadSignature, MalformedNote
from deconflict.record.keys import KEY_SIZE, SigningKey, VerifyKey

ALG_ED25519 = 0x01
"""Signature type byte of plain Ed25519 note signatures."""

EM_DASH = "\u2014"
MAX_SIGNATURES = 100
"""Most signature lines read from one note (the spec asks every verifier for >= 16)."""

MAX_NOTE_BYTES = 1 << 20
"""Largest note read, in bytes."""

_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f]")
_SPACE = re.compile(r"\s")


def key_hash(name: str, public_key: VerifyKey) -> int:
    """uint32 of SHA-256(name || 0x0A || 0x01 || 32-byte key)[:4] (signed-note key ID)."""
    data = name.encode() + b"\n" + bytes([ALG_ED25519]) + public_key.to_raw()
    return int.from_bytes(hashlib.sha256(data).digest()[:4], "big")


def check_key_name(name: str) -> None:
    """Raise MalformedNote unless `name` is a valid key name (non-empty, no spaces, no +)."""
    if not name or "+" in name or _SPACE.search(name) or _CONTROL.search(name):
        raise MalformedNote(
            f"the key name {name!r} is not valid: it must be non-empty, without spaces or '+'."
        )


@dataclass(frozen=True)
class NoteVerifier:
    """A trusted note key: a name and an Ed25519 public key."""

    name: str
    """The key name, e.g. a schema-less URL such as `deconflict.example/log`."""
    public_key: VerifyKey
    """The Ed25519 public key."""

    def __post_init__(self) -> None:
        check_key_name(self.name)

    @property
    def key_hash(self) -> int:
        """The 32-bit key ID in every signature line of this key."""
        return key_hash(self.name, self.public_key)

    def __str__(self) -> str:
        """The verifier key string `<name>+<hex key hash>+<base64(0x01 || key)>`."""
        blob = base64.b64encode(bytes([ALG_ED25519]) + self.public_key.to_raw()).decode()
        return f"{self.name}+{self.key_hash:08x}+{blob}"

    @classmethod
    def parse(cls, vkey: str) -> NoteVerifier:
        """Read a verifier key string; BadKey says what is wrong with it."""
        name, key_id, blob = _split_key_string(vkey, "verifier key")
        verifier = cls(name, VerifyKey.from_raw(blob))
        if verifier.key_hash != key_id:
            raise BadKey(f"the verifier key for {name!r} has a key hash that does not match it.")
        return verifier


@dataclass(frozen=True)
class NoteSigner:
    """A note signing key: a name and an Ed25519 private key. Never printed."""

    name: str
    """The key name written in each signature line."""
    key: SigningKey
    """The Ed25519 private key."""

    def __post_init__(self) -> None:
        check_key_name(self.name)

    @property
    def verifier(self) -> NoteVerifier:
        """The matching verifier, to publish."""
        return NoteVerifier(self.name, self.key.public_key)

    def secret_string(self) -> str:
        """The signer key string `PRIVATE+KEY+<name>+<hex key hash>+<base64(0x01||seed)>`."""
        blob = base64.b64encode(bytes([ALG_ED25519]) + self.key.to_raw()).decode()
        return f"PRIVATE+KEY+{self.name}+{self.verifier.key_hash:08x}+{blob}"

    @classmethod
    def parse(cls, skey: str) -> NoteSigner:
        """Read a signer key string (as golang.org/x/mod/sumdb/note writes them)."""
        if not skey.startswith("PRIVATE+KEY+"):
            raise BadKey("a signer key string starts with 'PRIVATE+KEY+'.")
        name, key_id, blob = _split_key_string(skey.removeprefix("PRIVATE+KEY+"), "signer key")
        signer = cls(name, SigningKey.from_raw(blob))
        if signer.verifier.key_hash != key_id:
            raise BadKey(f"the signer key for {name!r} has a key hash that does not match it.")
        return signer

    def __repr__(self) -> str:
        return f"NoteSigner({self.name!r}, {self.key!r})"


@dataclass(frozen=True)
class NoteSignature:
    """One signature line of a note."""

    name: str
    """The key name."""
    key_hash: int
    """The 32-bit key ID."""
    signature: bytes
    """The signature bytes after the key ID (64 for Ed25519)."""

    def line(self) -> str:
        """The line as it appears in the note, newline included."""
        blob = base64.b64encode(self.key_hash.to_bytes(4, "big") + self.signature).decode()
        return f"{EM_DASH} {self.name} {blob}\n"


@dataclass(frozen=True)
class Note:
    """A parsed note: its text and its signature lines, none of them yet verified."""

    text: str
    """The signed text, final newline included."""
    signatures: tuple[NoteSignature, ...]
    """Every signature line, in order."""

    def __str__(self) -> str:
        return self.text + "\n" + "".join(s.line() for s in self.signatures)


@dataclass(frozen=True)
class VerifiedNote:
    """A note whose text at least one trusted key signed."""

    text: str
    """The signed text, final newline included."""
    signed_by: tuple[NoteVerifier, ...]
    """The trusted keys whose signatures verified, in the note's order, each once."""
    unverified: tuple[NoteSignature, ...]
    """Signature lines from keys not trusted here (kept, not checked)."""


def check_text(text: str) -> None:
    """Raise MalformedNote unless `text` can be the text of a signed note."""
    if not text.endswith("\n"):
        raise MalformedNote("the note text does not end with a newline.")
    if _CONTROL.search(text):
        raise MalformedNote("the note text holds a control character other than newline.")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise MalformedNote("the note text is not valid Unicode (a lone surrogate).") from None


def sign_note(text: str, signer: NoteSigner) -> str:
    """A new note: `text`, a blank line, and `signer`'s signature line."""
    check_text(text)
    return str(Note(text, (_signature(text, signer),)))


def cosign_note(note: str | bytes, signer: NoteSigner) -> str:
    """Add `signer`'s line after every line already there (replacing only its own)."""
    parsed = parse_note(note)
    own = _signature(parsed.text, signer)
    kept = tuple(s for s in parsed.signatures if (s.name, s.key_hash) != (own.name, own.key_hash))
    return str(Note(parsed.text, (*kept, own)))


def parse_note(note: str | bytes) -> Note:
    """Split a note into text and signature lines; MalformedNote says what is wrong."""
    if isinstance(note, bytes):
        if len(note) > MAX_NOTE_BYTES:
            raise MalformedNote(f"the note is larger than {MAX_NOTE_BYTES} bytes.")
        try:
            note = note.decode("utf-8")
        except UnicodeDecodeError:
            raise MalformedNote("the note is not valid UTF-8.") from None
    elif len(note) > MAX_NOTE_BYTES:
        raise MalformedNote(f"the note is larger than {MAX_NOTE_BYTES} characters.")
    if not note.endswith("\n"):
        raise MalformedNote("the note does not end with a newline after its last signature.")
    split = note.rfind("\n\n")
    if split < 0:
        raise MalformedNote("the note has no blank line between its text and its signatures.")
    # Only U+000A ends a line here; str.splitlines would also split at U+2028 and others.
    text, lines = note[: split + 1], note[split + 2 :].split("\n")[:-1]
    check_text(text)
    if not lines:
        raise MalformedNote("the note has no signature line after its blank line.")
    if len(lines) > MAX_SIGNATURES:
        raise MalformedNote(f"the note has more than {MAX_SIGNATURES} signature lines.")
    return Note(text, tuple(_parse_line(line, i + 1) for i, line in enumerate(lines)))


def verify_note(note: str | bytes | Note, verifiers: Iterable[NoteVerifier]) -> VerifiedNote:
    """Check every signature by a trusted key; BadSignature unless >= 1 holds and none fails.

    Signature lines whose (name, key hash) match no trusted key are ignored, as the spec
    requires; one that matches but does not verify rejects the whole note.
    """
    parsed = note if isinstance(note, Note) else parse_note(note)
    trusted: dict[tuple[str, int], NoteVerifier] = {}
    for v in verifiers:
        known = trusted.setdefault((v.name, v.key_hash), v)
        if known.public_key != v.public_key:
            raise BadKey(f"two trusted keys share the name {v.name!r} and key hash.")
    message = parsed.text.encode()
    signed: dict[tuple[str, int], NoteVerifier] = {}
    unverified: list[NoteSignature] = []
    for sig in parsed.signatures:
        ident = (sig.name, sig.key_hash)
        verifier = trusted.get(ident)
        if verifier is None:
            unverified.append(sig)
            continue
        try:
            verifier.public_key.verify(message, sig.signature)
        except BadSignature:
            raise BadSignature(
                f"the signature of {sig.name}+{sig.key_hash:08x} does not verify: "
                "the note text or the signature was altered."
            ) from None
        signed.setdefault(ident, verifier)
    if not signed:
        raise BadSignature("the note has no signature from a trusted key.")
    return VerifiedNote(parsed.text, tuple(signed.values()), tuple(unverified))


def _signature(text: str, signer: NoteSigner) -> NoteSignature:
    return NoteSignature(signer.name, signer.verifier.key_hash, signer.key.sign(text.encode()))


def _parse_line(line: str, number: int) -> NoteSignature:
    if not line.startswith(EM_DASH + " "):
        raise MalformedNote(f"signature line {number} does not start with an em dash and a space.")
    fields = line[2:].split(" ")
    if len(fields) != 2:
        raise MalformedNote(f"signature line {number} is not '— <key name> <base64>'.")
    name, blob = fields
    try:
        check_key_name(name)
    except MalformedNote:
        raise MalformedNote(f"signature line {number} has an invalid key name.") from None
    raw = _b64(blob)
    if raw is None:
        raise MalformedNote(f"signature line {number} does not hold valid base64.")
    if len(raw) < 5:
        raise MalformedNote(f"signature line {number} is too short to hold a key ID and signature.")
    return NoteSignature(name, int.from_bytes(raw[:4], "big"), raw[4:])


def _b64(text: str) -> bytes | None:
    """Strict standard base64: None unless `text` is the one canonical encoding."""
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw if base64.b64encode(raw).decode() == text else None


def _split_key_string(value: str, what: str) -> tuple[str, int, bytes]:
    parts = value.split("+")
    # The base64 part may itself hold '+': only the first two separators count.
    if len(parts) < 3:
        raise BadKey(f"a {what} is '<name>+<8 hex digits>+<base64 key>'.")
    name, key_id, blob = parts[0], parts[1], "+".join(parts[2:])
    try:
        check_key_name(name)
    except MalformedNote as exc:
        raise BadKey(exc.message) from None
    if not re.fullmatch(r"[0-9a-f]{8}", key_id):
        raise BadKey(f"the key hash of a {what} is 8 lower-case hex digits.")
    raw = _b64(blob)
    if raw is None or len(raw) != 1 + KEY_SIZE:
        raise BadKey(f"the key of a {what} is base64 of 33 bytes (type byte and key).")
    if raw[0] != ALG_ED25519:
        raise BadKey(f"the {what} is not an Ed25519 key (type byte {raw[0]:#04x}).")
    return name, int(key_id, 16), raw[1:]
