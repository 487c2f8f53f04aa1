"""Every use case writes its entry into the record in its own transaction: the protocol
played in process on a real SQLite file, then the record read, opened and audited."""

from __future__ import annotations

import base64
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from deconflict.errors import Forbidden, InvalidRequest
from deconflict.export.times import format_time
from deconflict.record import NoteSigner, SigningKey, parse_canonical, verify_commitment
from deconflict.service import OPERATOR_PRINCIPAL, Principal, Service, messages, parties
from deconflict.service import declarations as decls
from deconflict.service import record as rec
from deconflict.service.auth import signed_message
from deconflict.store.database import Database
from deconflict.store.log import LogReader

DAY_S = 86400.0
T0 = 1_800_000_000.0


def movement(party: str, decl_id: str, lon: float, lat: float, start_s: float) -> dict[str, Any]:
    return {
        "type": "Feature",
        "geometry": {"type": "LineString", "coordinates": [[lon, lat], [lon + 0.05, lat]]},
        "properties": {
            "id": decl_id,
            "party": party,
            "kind": "movement",
            "times": [format_time(start_s), format_time(start_s + 1800)],
        },
    }


class World:
    def __init__(self, svc: Service, key: SigningKey, key_id: str) -> None:
        self.svc, self.key, self.key_id = svc, key, key_id
        self.a = Principal("ALPHA", "t")
        self.b = Principal("BRAVO", "t")

    def sign(self, method: str, path: str, doc: Any) -> str:
        sig = self.key.sign(signed_message(method, path, doc))
        return f"keyid={self.key_id}, sig={base64.b64encode(sig).decode()}"

    def entries(self) -> list[dict[str, Any]]:
        """The record as the service reads it: sealed entries opened."""
        return rec.read_entries(self.svc)

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.entries() if e["type"] == kind]


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    clock = [T0]
    signer = NoteSigner("deconflict.test", SigningKey.generate())
    svc = Service(Database(str(tmp_path / "r.sqlite")), clock=lambda: clock[0], log_signer=signer)
    try:
        parties.add_party(svc, OPERATOR_PRINCIPAL, "ALPHA", "force")
        parties.add_party(svc, OPERATOR_PRINCIPAL, "BRAVO", "force")
        key = SigningKey.generate()
        raw = base64.b64encode(key.public_key.to_raw()).decode()
        key_id = parties.add_key(svc, Principal("ALPHA", "t"), "ALPHA", raw)["key_id"]
        w = World(svc, key, key_id)
        # ALPHA signs its movement; BRAVO's crosses it.
        plan = movement("ALPHA", "patrol", 40.0, 36.0, T0 + 3 * DAY_S)
        decls.submit(
            svc, w.a, json.dumps(plan).encode(), signature=w.sign("POST", "/v1/declarations", plan)
        )
        other = movement("BRAVO", "convoy", 40.0, 36.0, T0 + 3 * DAY_S)
        decls.submit(svc, w.b, json.dumps(other).encode())
        yield w
    finally:
        svc.close()


def test_each_step_of_the_protocol_is_an_entry_in_order(world: World) -> None:
    decls.respond(world.svc, world.a, "BRAVO", "convoy", "acknowledge", b'{"reason": "seen"}')
    messages.send(world.svc, world.a, {"to": "BRAVO", "text": "grid 42 at dawn", "refs": []})
    types = [e["type"] for e in world.entries()]
    assert types[:6] == [
        "party.registered", "token.issued", "party.registered", "token.issued",
        "key.registered", "declaration",
    ]  # fmt: skip
    assert types[6:] == [
        # ALPHA's patrol, alone: cleared at once, nobody to notify (no disclosure)
        "declaration",  # BRAVO's convoy crosses it...
        "disclosure",  # ...so ALPHA is notified and shown the conflicting part of it
        "response", "declaration.state",  # ALPHA acknowledges: the convoy is cleared
        "message",
    ]  # fmt: skip
    assert [e["index"] for e in world.entries()] == list(range(len(types)))


def test_entries_hold_no_geometry_or_text_only_commitments(world: World) -> None:
    messages.send(world.svc, world.a, {"to": "BRAVO", "text": "grid 42 at dawn", "refs": []})
    with world.svc.read() as repo:
        raw = b"\n".join(e.entry for e in LogReader(repo.conn).entries())
    assert b"40.0" not in raw and b"36.0" not in raw and b"coordinates" not in raw
    assert b"grid 42" not in raw
    [version] = [e for e in world.of_type("declaration") if e["data"]["party"] == "ALPHA"]
    assert set(version["commit"]) == {"sealed", "request"}
    assert set(version["contents"]) == {"feature", "clearance"}
    assert version["sig"]["key_id"] == world.key_id


def test_sealed_entries_name_nothing_of_who_did_what(world: World) -> None:
    """SPEC 4: a party with no conflict learns nothing of another's declaration, not even
    that it exists; the public record shows a sequence of sealed commitments."""
    messages.send(world.svc, world.a, {"to": "BRAVO", "text": "grid 42 at dawn", "refs": []})
    with world.svc.read() as repo:
        public = [json.loads(e.entry) for e in LogReader(repo.conn).entries()]
    sealed = [e for e in public if e["type"] == "sealed"]
    assert len(sealed) == len([e for e in world.entries() if rec.is_sealed(e["type"])]) > 0
    for e in sealed:
        assert e["by"] == "" and e["data"] == {} and "sig" not in e
        text = json.dumps(e)
        assert "ALPHA" not in text and "BRAVO" not in text and "patrol" not in text
    # Parties and keys stay public within the deployment (GET /v1/parties shows them too).
    assert {e["type"] for e in public} - {"sealed"} == {
        "party.registered", "token.issued", "key.registered"
    }  # fmt: skip


def test_contents_open_only_to_whom_spec_4_allows(world: World) -> None:
    [version] = [e for e in world.of_type("declaration") if e["data"]["party"] == "ALPHA"]
    index = version["index"]
    owner = rec.disclose(world.svc, world.a, index)
    assert {c["name"] for c in owner["contents"]} == {"sealed", "request"}
    for c in owner["contents"]:
        salt, content = base64.b64decode(c["salt"]), base64.b64decode(c["content"])
        verify_commitment(version["commit"][c["name"]], salt, content)
    opened = parse_canonical(
        base64.b64decode(next(c["content"] for c in owner["contents"] if c["name"] == "sealed"))
    )
    assert isinstance(opened, dict) and opened["type"] == "declaration"
    assert rec.disclose(world.svc, world.b, index)["contents"] == []
    assert rec.disclose(world.svc, OPERATOR_PRINCIPAL, index)["contents"] == []
    # The disclosure entry: both ends may open what was shown, nobody else.
    [shown] = [e for e in world.of_type("disclosure") if e["data"]["to"] == "ALPHA"]
    opened_a = rec.disclose(world.svc, world.a, shown["index"])["contents"]
    assert [c["name"] for c in opened_a] == ["sealed"]
    inner = parse_canonical(base64.b64decode(opened_a[0]["content"]))
    assert isinstance(inner, dict)
    portion = inner["contents"]["portion"]  # type: ignore[index,call-overload]
    assert isinstance(portion, list) and portion  # the conflicting part of the convoy
    assert rec.disclose(world.svc, world.b, shown["index"])["contents"]
    assert rec.disclose(world.svc, OPERATOR_PRINCIPAL, shown["index"])["contents"] == []


def test_the_record_audits_clean_and_catches_tampered_contents_and_signatures(
    world: World, tmp_path: Path
) -> None:
    signer = world.svc.log_signer
    assert signer is not None
    rec.checkpoint_now(world.svc, signer)
    report = rec.audit_store(world.svc, signer.verifier)
    assert report.ok, report.findings
    [version] = [e for e in world.of_type("declaration") if e["data"]["party"] == "ALPHA"]
    with sqlite3.connect(tmp_path / "r.sqlite") as db:
        db.execute(
            "UPDATE log_contents SET content = ? WHERE idx = ? AND name = 'sealed'",
            (b'{"moved":"elsewhere"}', version["index"]),
        )
    found = {(f.kind, f.index) for f in rec.audit_store(world.svc, signer.verifier).findings}
    assert ("altered", version["index"]) in found


def test_a_request_signature_that_does_not_verify_is_reported(world: World, tmp_path: Path) -> None:
    signer = world.svc.log_signer
    assert signer is not None
    [version] = [e for e in world.of_type("declaration") if e["data"]["party"] == "ALPHA"]
    with sqlite3.connect(tmp_path / "r.sqlite") as db:
        # Rewrite the kept request (and its salt-free commitment check aside): a forged
        # request no longer matches ALPHA's signature.
        row = db.execute(
            "SELECT salt FROM log_contents WHERE idx = ? AND name = 'request'",
            (version["index"],),
        ).fetchone()
        assert row is not None
        db.execute(
            "UPDATE log_contents SET content = ? WHERE idx = ? AND name = 'request'",
            (b'{"forged":true}', version["index"]),
        )
    kinds = {f.kind for f in rec.audit_store(world.svc, signer.verifier).findings}
    assert {"altered", "bad_signature"} <= kinds


def test_a_refused_request_leaves_no_entry(world: World) -> None:
    before = len(world.entries())
    bad = movement("BRAVO", "patrol2", 40.0, 36.0, T0 + 3 * DAY_S)  # BRAVO's plan, ALPHA sends
    with pytest.raises(Forbidden):
        decls.submit(world.svc, world.a, json.dumps(bad).encode())
    with pytest.raises(InvalidRequest):
        messages.send(world.svc, world.a, {"to": "BRAVO", "text": "", "refs": []})
    assert len(world.entries()) == before
    # ...and the next accepted one continues the chain where it was.
    messages.send(world.svc, world.a, {"to": "BRAVO", "text": "ok", "refs": []})
    entries = world.entries()
    assert entries[-1]["index"] == before
    signer = world.svc.log_signer
    assert signer is not None
    assert rec.audit_store(world.svc, signer.verifier).ok


def test_a_force_party_notified_of_a_humanitarian_movement_is_recorded_as_shown_it_whole(
    world: World,
) -> None:
    """SPEC section 4: a humanitarian party's declaration is notified to every force party,
    which then sees it whole; the record must say so (the disclosure was computed before
    the notification was stored, and recorded nothing shown to a party with no conflict)."""
    parties.add_party(world.svc, OPERATOR_PRINCIPAL, "AID", "humanitarian")
    aid = Principal("AID", "t")
    # Far from every force's declaration: no conflict, notified for being humanitarian.
    plan = movement("AID", "convoy-7", 44.0, 33.0, T0 + 3 * DAY_S)
    decls.submit(world.svc, aid, json.dumps(plan).encode())
    shown = [e for e in world.of_type("disclosure") if e["data"]["from"] == "AID"]
    assert sorted(e["data"]["to"] for e in shown) == ["ALPHA", "BRAVO"]
    for entry in shown:
        to = Principal(entry["data"]["to"], "t")
        view, _ = decls.read(world.svc, to, "AID", "convoy-7")
        assert entry["data"]["access"] == view["access"]
        [opened] = rec.disclose(world.svc, to, entry["index"])["contents"]
        inner = parse_canonical(base64.b64decode(opened["content"]))
        assert isinstance(inner, dict)
        portion = inner["contents"]["portion"]  # type: ignore[index,call-overload]
        assert portion == view["features"]  # exactly what the party is shown
