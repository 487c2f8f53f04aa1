"""The incident procedure in process, on a real SQLite file with a hand-moved clock: filing
with attachments, the request for information, accounts, joint and operator findings, the
escalation of a silent accused (once), refusals that write nothing, who sees what, and the
record: every step an entry, contents opened only to the two parties and the operator."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from deconflict.errors import DeconflictError, Forbidden, LimitExceeded, NotFound
from deconflict.export.times import format_time
from deconflict.record import NoteSigner, SigningKey, verify_commitment
from deconflict.service import OPERATOR_PRINCIPAL, Principal, Service, parties, scheduler
from deconflict.service import declarations as decls
from deconflict.service import incidents as inc
from deconflict.service import record as rec
from deconflict.service.auth import signed_message
from deconflict.store.database import Database
from deconflict.store.log import LogReader

T0 = 1_800_000_000.0
HOUR_S = 3600.0
DESCRIPTION = "Our truck was pushed off the road by a BRAVO vehicle near the bridge."


class World:
    def __init__(self, svc: Service, clock: list[float], key: SigningKey, key_id: str) -> None:
        self.svc, self.clock, self.key, self.key_id = svc, clock, key, key_id
        self.a = Principal("ALPHA", "t")
        self.b = Principal("BRAVO", "t")
        self.c = Principal("CHARLIE", "t")
        self.op = OPERATOR_PRINCIPAL

    def entries(self) -> list[dict[str, Any]]:
        """The record as the service reads it: sealed entries opened."""
        return rec.read_entries(self.svc)

    def incident_entries(self) -> list[dict[str, Any]]:
        return [e for e in self.entries() if e["type"].startswith("incident.")]

    def events(self, party: str, prefix: str = "incident.") -> list[dict[str, Any]]:
        with self.svc.read() as repo:
            return [
                json.loads(e.payload)
                for e in repo.events_after(party, 0, 1000)
                if e.type.startswith(prefix)
            ]

    def size(self) -> int:
        with self.svc.read() as repo:
            return LogReader(repo.conn).size()


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    clock = [T0]
    signer = NoteSigner("deconflict.test", SigningKey.generate())
    svc = Service(Database(str(tmp_path / "i.sqlite")), clock=lambda: clock[0], log_signer=signer)
    try:
        for name in ("ALPHA", "BRAVO", "CHARLIE"):
            parties.add_party(svc, OPERATOR_PRINCIPAL, name, "force")
        key = SigningKey.generate()
        raw = base64.b64encode(key.public_key.to_raw()).decode()
        key_id = parties.add_key(svc, Principal("ALPHA", "t"), "ALPHA", raw)["key_id"]
        yield World(svc, clock, key, key_id)
    finally:
        svc.close()


def incident(**over: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "against": "BRAVO",
        "at": format_time(T0 - 2 * HOUR_S),
        "place": [42.14, 37.17],
        "radius_m": 500,
        "category": "collision",
        "description": DESCRIPTION,
        "attachments": [
            {
                "name": "photo.jpg",
                "media_type": "image/jpeg",
                "content_base64": base64.b64encode(b"\xff\xd8 a photo").decode(),
            }
        ],
    }
    doc.update(over)
    return doc


def one_sentence(exc: DeconflictError) -> None:
    assert "\n" not in exc.message and exc.message.count(". ") == 0, exc.message


# -- the whole procedure ---------------------------------------------------------------


def test_file_accounts_and_joint_finding(world: World) -> None:
    svc = world.svc
    doc = incident()
    sig = world.key.sign(signed_message("POST", "/v1/incidents", doc))
    header = f"keyid={world.key_id}, sig={base64.b64encode(sig).decode()}"
    filed = inc.file(svc, world.a, doc, signature=header)
    iid = filed["incident"]
    assert filed["state"] == "awaiting_account"
    assert filed["rfi"]["deadline"] == format_time(T0 + 72 * HOUR_S)
    assert filed["attachments"][0]["name"] == "photo.jpg"
    assert inc.attachment(svc, world.b, iid, 0)["content"] == b"\xff\xd8 a photo"

    # The accused is asked: an event and an inbox item; the operator hears of the filing.
    [rfi] = world.events("BRAVO")
    assert rfi["type"] == "incident.rfi" and rfi["incident"]["description"] == DESCRIPTION
    assert [e["type"] for e in world.events("@operator")] == ["incident.filed"]
    assert "description" not in world.events("@operator")[0]["incident"]
    [item] = decls.inbox(svc, world.b)["incidents"]
    assert item["incident"] == iid and item["filer"] == "ALPHA"
    assert decls.inbox(svc, world.a)["incidents"] == []

    world.clock[0] += HOUR_S
    inc.add_account(svc, world.b, iid, {"text": "Our driver swerved to avoid a crater."})
    inc.add_account(svc, world.a, iid, {"text": "There was no crater there."})
    seen = inc.add_account(svc, world.a, iid, {"text": "A second photo follows by hotline."})
    assert seen["state"] == "open"
    assert [a["party"] for a in seen["accounts"]] == ["BRAVO", "ALPHA", "ALPHA"]
    assert decls.inbox(svc, world.b)["incidents"] == []

    # Joint finding: a proposal, a different one replaces it, the same one records it.
    p1 = inc.record_finding(svc, world.a, iid, {"finding": "BRAVO at fault.", "outcome": "agreed"})
    assert p1["proposal"]["by"] == "ALPHA" and p1["finding"] is None
    text = "Neither side agrees on the crater."
    p2 = inc.record_finding(svc, world.b, iid, {"finding": text, "outcome": "disagreed"})
    assert p2["proposal"]["by"] == "BRAVO" and p2["finding"] is None
    again = inc.record_finding(svc, world.b, iid, {"finding": text, "outcome": "disagreed"})
    assert again["finding"] is None  # the same party twice is not joint
    done = inc.record_finding(svc, world.a, iid, {"finding": text, "outcome": "disagreed"})
    assert done["state"] == "found" and done["proposal"] is None
    assert done["finding"]["outcome"] == "disagreed" and done["finding"]["by"] == [
        "BRAVO",
        "ALPHA",
    ]
    with pytest.raises(inc.IncidentClosed):
        inc.add_account(svc, world.b, iid, {"text": "Late words."})
    with pytest.raises(inc.IncidentClosed):
        inc.record_finding(svc, world.op, iid, {"finding": "x", "outcome": "agreed"})

    types = [e["type"] for e in world.incident_entries()]
    assert types == [
        "incident.filed",
        "incident.account",
        "incident.account",
        "incident.account",
        "incident.finding_proposed",
        "incident.finding_proposed",
        "incident.finding_proposed",
        "incident.finding",
    ]
    filed_entry = world.incident_entries()[0]
    assert filed_entry["sig"]["key_id"] == world.key_id
    assert filed_entry["data"]["attachments"] == [filed["attachments"][0]["sha256"]]
    assert {e["type"] for e in world.events("@operator")} >= {
        "incident.filed",
        "incident.account",
        "incident.finding",
    }
    signer = svc.log_signer
    assert signer is not None
    rec.checkpoint_now(svc, signer)
    report = rec.audit_store(svc, signer.verifier)
    assert report.ok, report.findings


def test_the_operator_records_a_finding_alone(world: World) -> None:
    iid = inc.file(world.svc, world.a, incident(category="near_miss", attachments=[]))["incident"]
    found = inc.record_finding(
        world.svc, world.op, iid, {"finding": "Both kept 300 m apart.", "outcome": "agreed"}
    )
    assert found["finding"]["by"] == ["@operator"] and found["state"] == "found"
    with pytest.raises(Forbidden):
        inc.add_account(world.svc, world.op, iid, {"text": "The operator has no account."})
    [entry] = [e for e in world.incident_entries() if e["type"] == "incident.finding"]
    assert entry["by"] == "@operator" and entry["data"]["found_by"] == ["@operator"]
    # Found before the deadline: nothing is escalated later.
    world.clock[0] += 100 * HOUR_S
    scheduler.tick(world.svc)
    assert not [e for e in world.incident_entries() if e["type"] == "incident.rfi_escalated"]


# -- the deadline ----------------------------------------------------------------------


def test_a_silent_accused_is_escalated_once(world: World) -> None:
    svc = world.svc
    iid = inc.file(svc, world.a, incident())["incident"]
    answered = inc.file(svc, world.a, incident(category="fire"))["incident"]
    inc.add_account(svc, world.b, answered, {"text": "We saw the fire too."})
    world.clock[0] += 72 * HOUR_S  # at the deadline, not past it
    scheduler.tick(svc)
    assert inc.get(svc, world.a, iid)["state"] == "awaiting_account"
    world.clock[0] += 1
    scheduler.tick(svc)
    world.clock[0] += HOUR_S
    scheduler.tick(svc)
    [entry] = [e for e in world.incident_entries() if e["type"] == "incident.rfi_escalated"]
    assert entry["data"]["incident"] == iid and entry["by"] == "@service"
    for party in ("@operator", "ALPHA", "BRAVO"):
        said = world.events(party, "incident.rfi_escalated")
        assert [s["incident"] for s in said] == [iid], party
    seen = inc.get(svc, world.op, iid)
    assert seen["state"] == "escalated" and seen["rfi"]["escalated_at"] is not None
    assert decls.inbox(svc, world.b)["incidents"][0]["escalated"] is True
    # A late account is still taken; it escalates nothing more.
    assert inc.add_account(svc, world.b, iid, {"text": "Sorry, late."})["state"] == "open"
    world.clock[0] += 100 * HOUR_S
    scheduler.tick(svc)
    assert len([e for e in world.incident_entries() if e["type"] == "incident.rfi_escalated"]) == 1


# -- refusals --------------------------------------------------------------------------


def attachment(size: int, name: str = "f.bin") -> dict[str, str]:
    content = base64.b64encode(b"x" * size).decode()
    return {"name": name, "media_type": "application/octet-stream", "content_base64": content}


@pytest.mark.parametrize(
    ("who", "doc", "error"),
    [
        ("a", incident(attachments=[attachment(10)] * 6), "at most 5"),
        ("a", incident(attachments=[attachment(1024 * 1024 + 1)]), "1,048,576 bytes"),
        ("a", incident(attachments=[attachment(0)]), "empty"),
        ("a", incident(attachments=[{**attachment(3), "content_base64": "!!"}]), "base64"),
        ("a", incident(attachments=[{**attachment(3), "media_type": "jpeg"}]), "media type"),
        ("a", incident(category="war"), "category"),
        ("a", incident(at=format_time(T0 + 2 * HOUR_S)), "future"),
        ("a", incident(at="yesterday"), "ISO 8601"),
        ("a", incident(at="0001-01-01T00:00:00+01:00"), "2000-01-01"),
        ("a", incident(against="\ud800"), "No party"),
        ("a", incident(place=[10**400, 0]), "place"),
        ("a", incident(place=[200, 0]), "place"),
        ("a", incident(place=[1e400, 0]), "place"),
        ("a", incident(radius_m=-1), "radius_m"),
        ("a", incident(description=""), "description"),
        ("a", incident(description="x" * 20_001), "description"),
        ("a", incident(description="\ud800"), "surrogate"),
        ("a", incident(against="ALPHA"), "not yourself"),
        ("a", incident(against="NOBODY"), "No party"),
        ("a", incident(extra=1), "An incident is"),
        ("a", [], "An incident is"),
        ("op", incident(), "operator"),
    ],
)
def test_refusals_write_nothing(world: World, who: str, doc: Any, error: str) -> None:
    before = world.size()
    principal = world.op if who == "op" else world.a
    with pytest.raises(DeconflictError) as caught:
        inc.file(world.svc, principal, doc)
    assert error in caught.value.message
    one_sentence(caught.value)
    assert world.size() == before
    assert inc.listing(world.svc, world.op, None, None)["items"] == []


def test_a_body_over_max_body_bytes_is_refused(world: World) -> None:
    big = json.dumps(incident(attachments=[attachment(1024 * 1024)] * 5)).encode()
    assert len(big) > world.svc.settings.max_body_bytes
    with pytest.raises(LimitExceeded):
        decls.read_json(world.svc, big, "incident")


def test_bad_accounts_and_findings_write_nothing(world: World) -> None:
    iid = inc.file(world.svc, world.a, incident())["incident"]
    before = world.size()
    for doc in ({"text": ""}, {"text": 3}, {"words": "x"}, None):
        with pytest.raises(DeconflictError) as caught:
            inc.add_account(world.svc, world.b, iid, doc)
        one_sentence(caught.value)
    for doc in ({"finding": "x", "outcome": "maybe"}, {"finding": "", "outcome": "agreed"}):
        with pytest.raises(DeconflictError) as caught:
            inc.record_finding(world.svc, world.b, iid, doc)
        one_sentence(caught.value)
    assert world.size() == before


# -- who sees what ---------------------------------------------------------------------


def test_a_third_party_is_told_nothing_exists(world: World) -> None:
    svc = world.svc
    iid = inc.file(svc, world.a, incident())["incident"]
    calls = [
        lambda: inc.get(svc, world.c, iid),
        lambda: inc.attachment(svc, world.c, iid, 0),
        lambda: inc.add_account(svc, world.c, iid, {"text": "I saw it."}),
        lambda: inc.record_finding(svc, world.c, iid, {"finding": "x", "outcome": "agreed"}),
    ]
    for call in calls:
        with pytest.raises(NotFound) as caught:
            call()
        assert caught.value.message == inc.NOT_VISIBLE
    for unknown_id in ("i0000000000000deadbeef", "\ud800", "x" * 100):
        with pytest.raises(NotFound) as unknown:
            inc.get(svc, world.a, unknown_id)
        assert unknown.value.message == inc.NOT_VISIBLE
    assert inc.listing(svc, world.c, None, None)["items"] == []
    assert decls.inbox(svc, world.c)["incidents"] == []
    for who in (world.a, world.b, world.op):
        [item] = inc.listing(svc, who, None, None)["items"]
        assert item["incident"] == iid and "description" not in item
    assert world.events("CHARLIE") == []


def test_contents_are_opened_to_the_two_parties_and_the_operator_only(world: World) -> None:
    svc = world.svc
    iid = inc.file(svc, world.a, incident())["incident"]
    inc.add_account(svc, world.b, iid, {"text": "Our driver swerved to avoid a crater."})
    inc.record_finding(
        svc, world.op, iid, {"finding": "Unclear who moved first.", "outcome": "disagreed"}
    )
    entries = world.incident_entries()
    with svc.read() as repo:
        raw = {e["index"]: LogReader(repo.conn).entry(e["index"]).entry for e in entries}
    for e in entries:
        text = raw[e["index"]]
        assert b"crater" not in text and b"bridge" not in text and b"42.14" not in text
        assert b"Unclear" not in text
        assert e["commit"], e["type"]
        for who in (world.a, world.b, world.op):
            opened = rec.disclose(svc, who, e["index"])["contents"]
            assert {c["name"] for c in opened} == set(e["commit"]), (e["type"], who.party)
            for c in opened:
                verify_commitment(
                    e["commit"][c["name"]],
                    base64.b64decode(c["salt"]),
                    base64.b64decode(c["content"]),
                )
        assert rec.disclose(svc, world.c, e["index"])["contents"] == []
    filed = rec.disclose(svc, world.b, entries[0]["index"])["contents"]
    [sealed] = [json.loads(base64.b64decode(c["content"])) for c in filed]
    assert sealed["type"] == "incident.filed"
    names = sealed["contents"]
    assert names["description"] == DESCRIPTION
    assert names["place"] == {"lon": 42.14, "lat": 37.17, "radius_m": 500}
