"""The evidence bundle attached to an incident (docs/record.md, "Incidents", step 5): the
Al-Malikiyah demo played through the service (tests/service/test_reconstruct.py's `play`),
US-CJTF files an incident against RU-FORCES at the demo's place and time, attaches the
evidence, and the stored bundle names RU-FORCES' deviation, verifies offline, is bound by
a sealed `incident.evidence` entry and is shown to the two parties and the operator only."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from deconflict.errors import NotFound
from deconflict.export.times import format_time
from deconflict.model.clearance import OPERATOR
from deconflict.record import NoteSigner, SigningKey
from deconflict.service import OPERATOR_PRINCIPAL, Principal, Service, parties
from deconflict.service import incidents as inc
from deconflict.service import reconstruct as rc
from deconflict.service import record as rec
from deconflict.store.log import LogReader
from service.test_reconstruct import INCIDENT, play

US = Principal("US-CJTF", "t")
RU = Principal("RU-FORCES", "t")
THIRD = Principal("THIRD", "t")
AFTER_S = rc.parse_time("2020-08-26T00:00:00Z")
"""The clock once the demo is played: the incident is filed the day after."""


@dataclass
class Attached:
    svc: Service
    signer: NoteSigner
    incident: str
    summary: dict[str, Any]
    direct: dict[str, Any]
    """The report built directly for the same query (every party)."""


@pytest.fixture(scope="module")
def attached(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Attached]:
    tmp = tmp_path_factory.mktemp("evidence")
    signer = NoteSigner("deconflict.test", SigningKey.generate())
    svc = play(tmp / "e.sqlite", signer)
    svc.clock = lambda: AFTER_S
    try:
        parties.add_party(svc, OPERATOR_PRINCIPAL, "THIRD", "force")
        filed = inc.file(
            svc,
            US,
            {
                "against": "RU-FORCES",
                "at": format_time(INCIDENT.at_s),
                "place": [INCIDENT.lon, INCIDENT.lat],
                "radius_m": INCIDENT.radius_m,
                "category": "near_miss",
                "description": "The patrol left its notified route towards our block.",
            },
        )
        summary = inc.attach_evidence(svc, US, filed["incident"])
        direct = rc.build_report(svc, INCIDENT, signer)
        yield Attached(svc, signer, filed["incident"], summary, direct)
    finally:
        svc.close()


def report_of(a: Attached, who: Principal = US) -> tuple[dict[str, Any], dict[str, Any]]:
    got = inc.evidence(a.svc, who, a.incident)
    return got, json.loads(got["report"])


def test_the_bundle_names_ru_forces_deviation(attached: Attached) -> None:
    got, report = report_of(attached)
    assert attached.summary["n"] == got["n"] == 0
    assert hashlib.sha256(got["report"]).hexdigest() == attached.summary["sha256"]
    assert report["format"] == rc.FORMAT and report["parties"] == ["RU-FORCES", "US-CJTF"]
    assert report["query"] == INCIDENT.to_json()  # its own time, place and radius; 30 min
    alerted = [d for d in report["deviations"] if d["source"] == "alert"]
    assert alerted and all(d["parties"] == ["RU-FORCES"] for d in report["deviations"])
    assert alerted[0]["declarations"] == ["RU-FORCES/mp-patrol-0825"]
    by_ref = {f"{d['party']}/{d['id']}": d for d in report["declarations"]}
    assert by_ref["RU-FORCES/mp-patrol-0825"]["cleared"]
    assert by_ref["US-CJTF/matv-block-0825"]["cleared"]
    assert {t["party"] for t in report["tracks"]} == {"RU-FORCES", "US-CJTF"}
    [closest] = report["closest_approaches"]
    assert closest["distance_m"] < 1000
    # The same sections as the reconstruction of the place and time itself (the demo's
    # declarations and tracks near the place are the two parties' only).
    for name in ("declarations", "tracks", "deviations", "closest_approaches"):
        assert report[name] == attached.direct[name], name


def test_the_stored_bundle_verifies_offline(attached: Attached, tmp_path: Path) -> None:
    got, report = report_of(attached)
    (tmp_path / rc.REPORT_JSON).write_bytes(got["report"])
    (tmp_path / rc.CHECKPOINT).write_text(got["checkpoint_note"], encoding="utf-8")
    (tmp_path / rc.KEY).write_text(got["log_key"] + "\n", encoding="ascii")
    assert got["log_key"] == str(attached.signer.verifier)
    check = rc.verify_bundle(tmp_path, key=str(attached.signer.verifier))
    assert check.ok, check.problems
    assert check.entries == len(report["entries"]) == got["cited_entries"] > 10
    assert check.tree_size == got["checkpoint"]["tree_size"] == report["checkpoint"]["tree_size"]
    # Every entry the report's items cite is given with its proof, and no other.
    cited = {e["index"] for e in report["entries"]}
    assert {a["index"] for a in report["alerts"]} <= cited
    assert {i for d in report["deviations"] for i in d["entries"]} <= cited
    # A tampered copy does not verify.
    report["entries"][0]["inclusion"][0] = "00" * 32
    (tmp_path / rc.REPORT_JSON).write_text(json.dumps(report), encoding="utf-8")
    assert not rc.verify_bundle(tmp_path, key=str(attached.signer.verifier)).ok


def test_a_sealed_entry_binds_the_report_and_the_audit_is_clean(attached: Attached) -> None:
    entries = [e for e in rec.read_entries(attached.svc) if e["type"] == "incident.evidence"]
    [entry] = [e for e in entries if e["data"]["incident"] == attached.incident]
    assert entry["index"] == attached.summary["entry"]
    assert entry["by"] == "US-CJTF"
    assert entry["data"]["sha256"] == attached.summary["sha256"]
    assert entry["data"]["tree_size"] == attached.summary["checkpoint"]["tree_size"]
    assert entry["data"]["against"] == "RU-FORCES" and entry["data"]["filer"] == "US-CJTF"
    with attached.svc.read() as repo:
        public = LogReader(repo.conn).entry(entry["index"]).entry.decode()
    assert '"sealed"' in public and "US-CJTF" not in public and attached.incident not in public
    rec.checkpoint_now(attached.svc, attached.signer)
    audit = rec.audit_store(attached.svc, attached.signer.verifier)
    assert audit.ok, audit.findings


def test_both_parties_and_the_operator_are_told_and_may_read_it(attached: Attached) -> None:
    for who in (US, RU, OPERATOR_PRINCIPAL):
        got, _ = report_of(attached, who)
        assert got["sha256"] == attached.summary["sha256"]
    for party in ("US-CJTF", "RU-FORCES", OPERATOR):
        with attached.svc.read() as repo:
            told = [
                json.loads(e.payload)
                for e in repo.events_after(party, 0, 1_000_000)
                if e.type == "incident.evidence"
            ]
        assert any(t["sha256"] == attached.summary["sha256"] for t in told), party


def test_a_third_party_is_told_nothing_exists(attached: Attached) -> None:
    made_up = "i0000000000000deadbeef"
    size = len(rec.read_entries(attached.svc))
    for incident_id in (attached.incident, made_up):
        with pytest.raises(NotFound) as attach:
            inc.attach_evidence(attached.svc, THIRD, incident_id)
        with pytest.raises(NotFound) as read:
            inc.evidence(attached.svc, THIRD, incident_id)
        assert str(attach.value) == str(read.value) == inc.NOT_VISIBLE
    assert len(rec.read_entries(attached.svc)) == size  # nothing written


def test_only_the_two_parties_content_is_kept(attached: Attached) -> None:
    """A third party's plans and positions near the place are not the incident parties'
    to see: limited to RU-FORCES and THIRD, US-CJTF's tracks, declarations and the
    approaches between the two go, and so do the proofs only they cited."""
    kept = inc.only_parties(attached.direct, ("RU-FORCES", "THIRD"))
    assert {t["party"] for t in kept["tracks"]} == {"RU-FORCES"}
    assert {d["party"] for d in kept["declarations"]} == {"RU-FORCES"}
    assert kept["closest_approaches"] == []
    assert all(m["from"] != "US-CJTF" and m["to"] != "US-CJTF" for m in kept["messages"])
    us = {i for t in attached.direct["tracks"] if t["party"] == "US-CJTF" for i in t["entries"]}
    assert us and not us & {e["index"] for e in kept["entries"]}
    assert len(kept["entries"]) < len(attached.direct["entries"])


def test_no_evidence_after_the_finding_or_before_it_is_attached(attached: Attached) -> None:
    filed = inc.file(
        attached.svc,
        RU,
        {
            "against": "US-CJTF",
            "at": format_time(INCIDENT.at_s),
            "place": [INCIDENT.lon, INCIDENT.lat],
            "category": "other",
            "description": "A second incident, closed at once.",
        },
    )
    with pytest.raises(NotFound):
        inc.evidence(attached.svc, RU, filed["incident"])
    inc.record_finding(
        attached.svc,
        OPERATOR_PRINCIPAL,
        filed["incident"],
        {"finding": "Nothing to find.", "outcome": "agreed"},
    )
    with pytest.raises(inc.IncidentClosed):
        inc.attach_evidence(attached.svc, RU, filed["incident"])


def test_the_evidence_covers_1_to_5_km_and_an_hour(attached: Attached) -> None:
    with attached.svc.read() as repo:
        row = repo.incident(attached.incident)
    assert row is not None
    for filed, used in ((0.0, 1000.0), (2500.0, 2500.0), (100_000.0, 5000.0)):
        query = inc.evidence_query(replace(row, radius_m=filed))
        assert (query.radius_m, query.window_s, query.at_s) == (used, 1800.0, INCIDENT.at_s)
