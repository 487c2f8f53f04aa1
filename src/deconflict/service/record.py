"""The service's record (SPEC §6): what each use case appends, the log key, signed
checkpoints at an interval and on demand, proofs, export, disclosure and audit.

It must never append outside the write transaction of the state an entry describes, and
never disclose committed content to a party SPEC §4 does not allow: the owner (and its
observers, and everyone once shared) for a declaration, the two ends for a message or a
disclosure, the requester for its own signed request, the two parties and the operator for
an incident.
"""

from __future__ import annotations

import base64
import json
import logging
import os
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from deconflict.errors import Forbidden, InvalidRequest, NotFound
from deconflict.model.clearance import OPERATOR
from deconflict.record import (
    NoteSigner,
    SigningKey,
    VerifyKey,
    consistency_proof_from,
    cosign_note,
    make_checkpoint,
    parse_checkpoint,
    sign_checkpoint,
    verify_commitment,
    verify_note,
)
from deconflict.record.audit import AuditReport, audit
from deconflict.record.canonical import JSONValue
from deconflict.record.entries import RequestSignature, parse_entry
from deconflict.record.errors import (
    BadCommitment,
    BadKey,
    BadSignature,
    MalformedNote,
    NotCanonical,
)
from deconflict.record.note import NoteVerifier
from deconflict.service.auth import Principal
from deconflict.service.core import Service
from deconflict.service.workers import Periodic
from deconflict.store import log as store_log
from deconflict.store.log import LogReader, StoredCheckpoint
from deconflict.store.repository import Repository

log = logging.getLogger("deconflict.record")

SERVICE = "@service"
"""The `by` of entries the service decides alone (checkpoints, expiries)."""


# -- appending -------------------------------------------------------------------------


SEALED = "sealed"
"""The public type of an entry whose type, party and data are themselves committed."""

SEALED_TYPES = (
    "declaration",
    "disclosure",
    "response",
    "escalation",
    "message",
    "incident",
    "positions",
    "alert",
)
"""Entry types about what only some parties may know exists (SPEC §4: a party sees nothing
of another's declaration it has no conflict with, not even that it exists). Their entries
show every party only a sequence number, a time and commitments; parties, keys, tokens and
cosignatures stay public within the deployment."""


def is_sealed(type_: str) -> bool:
    return type_.split(".", 1)[0] in SEALED_TYPES


def append(
    repo: Repository,
    at_s: float,
    type_: str,
    by: str,
    data: Mapping[str, JSONValue],
    private: Mapping[str, bytes | JSONValue] | None = None,
    signature: tuple[str, bytes] | None = None,
) -> int:
    """Append one entry in `repo`'s transaction; returns its index.

    A sealed type's entry commits to `{"type", "by", "data", "contents", "sig"}` as one
    content named `sealed` (the signed request, if any, as a second one, `request`, opened
    only to the party that sent it), so the public log says nothing of who did what.
    """
    sig = None if signature is None else RequestSignature(signature[0], signature[1])
    if not is_sealed(type_):
        return repo.log.append(at_s, type_, by, data, private, sig)
    contents = dict(private or {})
    request = contents.pop("request", None)
    inner: dict[str, JSONValue] = {
        "type": type_,
        "by": by,
        "data": dict(data),
        "contents": {
            name: value.decode("utf-8") if isinstance(value, bytes) else value
            for name, value in sorted(contents.items())
        },
    }
    if sig is not None:
        inner["sig"] = sig.to_json()
    sealed: dict[str, bytes | JSONValue] = {"sealed": inner}
    if request is not None:
        sealed["request"] = request
    return repo.log.append(at_s, SEALED, "", {}, sealed, None)


def unseal(entry: Mapping[str, Any], sealed: bytes | None) -> dict[str, Any]:
    """The entry as its sealed content says (type, by, data, sig); the entry itself when
    it is not sealed or the content is not at hand."""
    if entry.get("type") != SEALED or sealed is None:
        return dict(entry)
    try:
        inner = json.loads(sealed)
    except ValueError:
        return dict(entry)
    return inner if isinstance(inner, dict) else dict(entry)


def signed_request(
    sig: Any, method: str, path: str, body: JSONValue
) -> tuple[dict[str, bytes | JSONValue], tuple[str, bytes] | None]:
    """The private `request` content and the entry signature of a (maybe) signed call:
    whoever is given the request can check the party's signature over it."""
    if sig is None:
        return {}, None
    request: JSONValue = {"method": method.upper(), "path": path, "body": body}
    return {"request": request}, (sig.key_id, sig.signature)


def decl_ref(party: str, decl_id: str, version: int) -> dict[str, JSONValue]:
    return {"party": party, "id": decl_id, "version": version}


# -- the log key -----------------------------------------------------------------------


def load_or_create_key(path: str | Path, origin: str) -> NoteSigner:
    """The service's checkpoint key from `path` (a C2SP signer key string), made on the
    first start with mode 0600. The key name is the log's origin."""
    p = Path(path)
    if p.exists():
        try:
            signer = NoteSigner.parse(p.read_text(encoding="ascii").strip())
        except (OSError, UnicodeDecodeError, BadKey) as exc:
            raise InvalidRequest(f"The log key {p} cannot be read ({exc}).") from None
        if signer.name != origin:
            raise InvalidRequest(f"The log key {p} is for the log {signer.name!r}, not {origin!r}.")
        return signer
    signer = NoteSigner(origin, SigningKey.generate())
    fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(signer.secret_string() + "\n")
    log.info("created the log key %s (%s)", p, signer.verifier)
    return signer


# -- checkpoints -----------------------------------------------------------------------


def checkpoint_now(svc: Service, signer: NoteSigner, force: bool = False) -> StoredCheckpoint:
    """Sign the current head and store it; unless `force`, the latest checkpoint is kept
    when the log has not grown since."""
    with svc.write() as repo:
        reader = LogReader(repo.conn)
        latest = reader.latest_checkpoint()
        size = repo.log.size
        if latest is not None and latest.tree_size == size and not force:
            return latest
        now = svc.now()
        head = make_checkpoint(signer.name, size, repo.log.root(), datetime.fromtimestamp(now, UTC))
        note = sign_checkpoint(head, signer)
        checkpoint_id = store_log.add_checkpoint(repo.conn, size, now, note)
    return StoredCheckpoint(checkpoint_id, size, now, note)


class Checkpointer(Periodic):
    """A thread that signs a checkpoint every `period_s` when the log grew."""

    name = "deconflict-checkpointer"

    def __init__(self, svc: Service, signer: NoteSigner, period_s: float) -> None:
        super().__init__(period_s, first_wait=True)
        self.svc, self.signer = svc, signer

    def round(self) -> bool:
        checkpoint_now(self.svc, self.signer)
        return False


def cosign(svc: Service, who: Principal, checkpoint_id: int, note: str) -> dict[str, Any]:
    """Keep a party's cosignature (witness) of a checkpoint: `note` is the checkpoint
    with the party's signature line added, by one of its registered keys."""
    if who.is_operator:
        raise Forbidden("The operator does not witness its own log; a party does.")
    with svc.write() as repo:
        stored = LogReader(repo.conn).checkpoint(checkpoint_id)
        try:
            checkpoint, parsed = parse_checkpoint(note)
            if parsed.text != parse_checkpoint(stored.note)[1].text:
                raise BadSignature(f"the note is not the text of checkpoint {checkpoint_id}.")
            verifiers = [
                NoteVerifier(who.party, VerifyKey.from_raw(raw))
                for raw in repo.keys_of(who.party).values()
            ]
            verified = verify_note(parsed, verifiers)
        except (MalformedNote, BadSignature) as exc:
            raise InvalidRequest(f"The cosignature cannot be accepted: {exc}") from None
        if not verified.signed_by:
            raise InvalidRequest(
                f"The note carries no signature by a registered key of {who.party}."
            )
        now = svc.now()
        store_log.add_cosignature(repo.conn, checkpoint_id, who.party, now, note)
        append(
            repo,
            now,
            "checkpoint.cosigned",
            who.party,
            {"checkpoint": checkpoint_id, "tree_size": checkpoint.tree_size},
        )
    return {"checkpoint": checkpoint_id, "party": who.party}


def witness_line(note: str, signer: NoteSigner) -> str:
    """A party's cosignature of a checkpoint note (what a witness client does)."""
    return cosign_note(note, signer)


# -- reading: proofs, entries, disclosure ----------------------------------------------


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def checkpoint_view(c: StoredCheckpoint) -> dict[str, Any]:
    return {"id": c.checkpoint_id, "tree_size": c.tree_size, "note": c.note}


def latest(svc: Service) -> dict[str, Any]:
    with svc.read() as repo:
        found = LogReader(repo.conn).latest_checkpoint()
    if found is None:
        raise NotFound("No checkpoint has been signed yet.")
    return checkpoint_view(found)


def _size_for(reader: LogReader, tree_size: int | None) -> int:
    size = reader.size()
    if tree_size is None:
        return size
    if not 0 < tree_size <= size:
        raise InvalidRequest(f"tree_size must be between 1 and {size}, the log's size.")
    return tree_size


def inclusion(svc: Service, index: int, tree_size: int | None = None) -> dict[str, Any]:
    """Inclusion proof of entry `index` in the tree of `tree_size` entries (default: the
    latest checkpoint's size, so the proof checks against a signed root)."""
    with svc.read() as repo:
        reader = LogReader(repo.conn)
        if tree_size is None:
            head = reader.latest_checkpoint()
            tree_size = head.tree_size if head is not None and head.tree_size > index else None
        size = _size_for(reader, tree_size)
        if not 0 <= index < size:
            raise NotFound(f"The log of size {size} has no entry {index}.")
        entry = reader.entry(index)
        proof, root = reader.inclusion(index, size)
    return {
        "index": index,
        "tree_size": size,
        "entry": entry.entry.decode(),
        "leaf_hash": b64(reader_leaf(entry.entry)),
        "proof": [b64(h) for h in proof],
        "root_hash": b64(root),
    }


def reader_leaf(raw: bytes) -> bytes:
    from deconflict.record import leaf_hash

    return leaf_hash(raw)


def consistency(svc: Service, old_size: int, new_size: int | None = None) -> dict[str, Any]:
    with svc.read() as repo:
        reader = LogReader(repo.conn)
        size = _size_for(reader, new_size)
        if not 0 <= old_size <= size:
            raise InvalidRequest(f"old_size must be between 0 and {size}.")
        proof = consistency_proof_from(reader.nodes, old_size, size)
        return {
            "old_size": old_size,
            "new_size": size,
            "old_root": b64(reader.root(old_size)),
            "new_root": b64(reader.root(size)),
            "proof": [b64(h) for h in proof],
        }


def entries_page(svc: Service, start: int, limit: int) -> dict[str, Any]:
    """A page of entries as their exact bytes (one canonical JSON text each)."""
    with svc.read() as repo:
        reader = LogReader(repo.conn)
        size = reader.size()
        end = min(start + limit, size)  # also keeps start + limit inside the store's integers
        rows = list(reader.entries(start, end, batch=limit)) if start < end else []
    nxt = start + len(rows)
    return {
        "start": start,
        "entries": [r.entry.decode() for r in rows],
        "next": nxt if nxt < size else None,
        "size": size,
    }


def read_entries(svc: Service) -> list[dict[str, Any]]:
    """Every entry as the service knows it, sealed ones opened: the entry's own members
    (index, at, commit...) with the sealed type, by, data and sig in place of the public
    ones, and `contents` as committed. For the service's own use (reconstruction, tests);
    never served as it is."""
    out: list[dict[str, Any]] = []
    with svc.read() as repo:
        reader = LogReader(repo.conn)
        for stored in reader.entries():
            entry = parse_entry(stored.entry)
            sealed = None
            if entry.get("type") == SEALED:
                sealed = next(
                    (c.content for c in reader.contents(stored.index) if c.name == "sealed"), None
                )
            out.append({**entry, **unseal(entry, sealed)})
    return out


def may_open(repo: Repository, viewer: str, entry: Mapping[str, Any], name: str) -> bool:
    """Whether `viewer` may be given content `name` of `entry` (SPEC §4); `entry` is the
    unsealed entry (see `unseal`)."""
    data = entry.get("data", {})
    by = entry.get("by")
    if name == "request":
        return viewer == by
    kind = str(entry.get("type", ""))
    if kind.startswith("incident."):
        # The two parties of an incident and the operator, who records findings from the
        # accounts (docs/record.md, "Incidents").
        return viewer in (data.get("filer"), data.get("against"), OPERATOR)
    if kind == "positions":
        return bool(viewer == data.get("party"))  # the reporting party's units (docs/live.md)
    if kind == "alert" or kind.startswith("alert."):
        return viewer in list(data.get("parties", ()))  # every party the alert involves
    if viewer == OPERATOR:
        return False  # the operator sees clearance metadata, never a party's content
    if kind.startswith("declaration") or kind == "escalation":
        owner = data.get("party")
        if viewer == owner or viewer in repo.observers(str(owner)):
            return True
        if kind == "escalation" and viewer == data.get("silent"):
            return True
        return bool(repo.is_shared(str(owner), str(data.get("id"))))
    if kind in ("disclosure", "message") or kind.startswith("message."):
        return viewer in (data.get("from"), data.get("to"))
    if kind == "response":
        return viewer in (by, data.get("party"))
    return False


def disclose(svc: Service, who: Principal, index: int) -> dict[str, Any]:
    """Entry `index` with the contents the caller may open, each with its salt, so the
    caller checks it against the commitment in the entry."""
    with svc.read() as repo:
        reader = LogReader(repo.conn)
        stored = reader.entry(index)
        entry = parse_entry(stored.entry)
        kept = reader.contents(index)
        sealed = next((c.content for c in kept if c.name == "sealed"), None)
        inner = unseal(entry, sealed)
        opened = [
            {"name": c.name, "salt": b64(c.salt), "content": b64(c.content)}
            for c in kept
            if may_open(repo, who.party, inner, c.name)
        ]
    return {"index": index, "entry": stored.entry.decode(), "contents": opened}


# -- audit -----------------------------------------------------------------------------


def audit_store(
    svc: Service, log_key: NoteVerifier, extra_checkpoints: Sequence[str] = ()
) -> AuditReport:
    """Audit the whole stored log: entries, every stored subtree hash, every stored
    checkpoint and any checkpoint kept elsewhere (a party's copy proves a rewrite the
    store hides). One read snapshot, so a writer appending meanwhile changes nothing."""
    with svc.read() as repo:
        reader = LogReader(repo.conn)
        notes = [c.note for c in reader.checkpoints()] + list(extra_checkpoints)

        def entries() -> Iterator[bytes]:
            for e in reader.entries():
                yield e.entry

        report = audit(
            entries(),
            notes,
            log_key,
            stored_nodes=_NodeWindows(reader),
            stored_size=reader.stored_leaves(),
        )
        _audit_contents(reader, report)
        return report


class _NodeWindows:
    """Stored subtree hashes for the audit, read a window at a time per level (the audit
    walks each level in order)."""

    WINDOW = 4096

    def __init__(self, reader: LogReader) -> None:
        self._reader = reader
        self._windows: dict[int, tuple[int, dict[int, bytes]]] = {}

    def __call__(self, level: int, index: int) -> bytes | None:
        start, window = self._windows.get(level, (-1, {}))
        if not (0 <= start <= index < start + self.WINDOW):
            start = index
            window = self._reader.level(level, index, index + self.WINDOW)
            self._windows[level] = (start, window)
        return window.get(index)


def _audit_contents(reader: LogReader, report: AuditReport) -> None:
    """What only the store can check: every kept content opens its commitment, and every
    party signature verifies over its request with a key the log registered before."""
    keys: dict[str, VerifyKey] = {}
    for stored in reader.entries():
        try:
            entry = parse_entry(stored.entry)
        except NotCanonical:
            continue  # already reported
        commits = entry.get("commit", {})
        # Contents are kept under the index the entry has, not the row it sits in: a
        # moved or copied entry is reported as such by the audit, not here again.
        index = int(entry["index"])
        contents = {c.name: c for c in reader.contents(index)} if commits else {}
        sealed = contents.get("sealed")
        entry = unseal(entry, None if sealed is None else sealed.content)
        data = entry.get("data", {})
        if entry.get("type") == "key.registered":
            try:
                keys[str(data["key_id"])] = VerifyKey.from_raw(base64.b64decode(data["public_key"]))
            except (KeyError, ValueError, BadKey):
                report.add(
                    "unreadable",
                    f"Entry {index} registers a key that cannot be read.",
                    index,
                )
        for name, commitment in commits.items():
            c = contents.get(name)
            try:
                if c is None:
                    raise BadCommitment("missing")
                verify_commitment(str(commitment), c.salt, c.content)
            except BadCommitment:
                report.add(
                    "altered",
                    f"The {name} kept for entry {index} does not open its commitment: "
                    "the content, its salt or the entry was altered.",
                    index,
                )
        sig = entry.get("sig")
        if sig is None:
            continue
        key = keys.get(str(sig.get("key_id")))
        request = contents.get("request")
        try:
            if key is None:
                raise BadSignature("unknown key")
            if request is None:
                raise BadSignature("no request")
            key.verify(request.content, base64.b64decode(str(sig.get("sig"))))
        except (BadSignature, ValueError):
            report.add(
                "bad_signature",
                f"Entry {index} carries a signature by {entry.get('by')} that does not "
                "verify with a key the log registered before it.",
                index,
            )


def report_json(report: AuditReport) -> dict[str, Any]:
    return {
        "ok": report.ok,
        "size": report.size,
        "root_hash": b64(report.root),
        "checkpoints_verified": report.checkpoints,
        "findings": [
            {"kind": f.kind, "index": f.index, "message": f.message} for f in report.findings
        ],
    }


def dumps(doc: Any) -> str:
    return json.dumps(doc, indent=2, sort_keys=True)
