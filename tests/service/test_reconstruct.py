"""Incident reconstruction from the record alone: the Al-Malikiyah demo played in process
on a real SQLite file (declarations at scenario time with notice, acknowledged, the bundled
tracks fed through the live ingest), then the report built and its proofs checked."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from deconflict.cli.main import app
from deconflict.errors import NotFound
from deconflict.export.geojson import declarations_to_collection
from deconflict.ingest import load_declarations
from deconflict.ingest.positions import load_tracks
from deconflict.record import NoteSigner, SigningKey
from deconflict.scenarios import party_kinds, scenario_path
from deconflict.service import OPERATOR_PRINCIPAL, Principal, Service, messages, parties
from deconflict.service import declarations as decls
from deconflict.service import reconstruct as rc
from deconflict.service.live import live
from deconflict.store.database import Database

TRACKS = scenario_path("al-malikiyah-2020").with_name("al-malikiyah-2020-tracks.csv")
INCIDENT = rc.Query(
    at_s=rc.parse_time("2020-08-25T07:00:00Z"),
    lon=42.14,
    lat=37.17,
    radius_m=5000.0,
    window_s=1800.0,
)
BATCH_S = 60.0


def play(db: Path, signer: NoteSigner) -> Service:
    """The Al-Malikiyah scenario through the service, as the parties would play it."""
    clock = [rc.parse_time("2020-08-23T12:00:00Z")]
    svc = Service(Database(str(db)), clock=lambda: clock[0], log_signer=signer)
    found = load_declarations(scenario_path("al-malikiyah-2020"))
    kinds = party_kinds(found.metadata)
    for party, kind in sorted(kinds.items()):
        parties.add_party(svc, OPERATOR_PRINCIPAL, party, kind)
    who = {p: Principal(p, "t") for p in kinds}
    for party in sorted(kinds):
        mine = [d for d in found.declarations if d.party == party]
        body = json.dumps(declarations_to_collection(mine)).encode()
        decls.submit(svc, who[party], body)
        clock[0] += 600
    # Each side acknowledges the other's movements it was notified of: both are cleared.
    # (Only movements: answering an open-ended site or zone fails in engine/clearance.py,
    # whose expiry message formats an infinite `pending_until_s`.)
    for d in found.declarations:
        if d.kind != "movement":
            continue
        for other in kinds:
            if other != d.party:
                try:
                    decls.respond(svc, who[other], d.party, d.id, "acknowledge", b"{}")
                except NotFound:
                    pass  # not notified of it
        clock[0] += 1
    messages.send(
        svc,
        who["RU-FORCES"],
        {
            "to": "US-CJTF",
            "text": "Patrol on the notified route to Al-Malikiyah, helicopter escort",
            "refs": [{"party": "RU-FORCES", "id": "mp-patrol-0825"}],
        },
    )
    # The tracks, by party, in time order, in one-minute batches as trackers would send.
    reports = sorted(load_tracks(TRACKS).reports, key=lambda r: r.time_s)
    monitor = live(svc)
    batch: dict[str, list[Any]] = {}
    end = reports[0].time_s + BATCH_S
    for r in reports + [None]:
        if r is None or r.time_s >= end:
            for party in sorted(batch):
                clock[0] = max(x.time_s for x in batch[party])
                monitor.ingest(who[party], batch[party])
            batch = {}
            if r is None:
                break
            while r.time_s >= end:
                end += BATCH_S
        batch.setdefault(r.party, []).append(r)
    clock[0] = reports[-1].time_s + 120
    monitor.advance()
    return svc


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, Any]]]:
    tmp = tmp_path_factory.mktemp("incident")
    signer = NoteSigner("deconflict.test", SigningKey.generate())
    svc = play(tmp / "r.sqlite", signer)
    (tmp / "r.sqlite.log-key").write_text(signer.secret_string() + "\n", encoding="ascii")
    try:
        report = rc.build_report(svc, INCIDENT, signer)
        rc.write_bundle(report, signer.verifier, tmp / "report")
    finally:
        svc.close()
    yield tmp / "report", report


def test_both_movements_were_cleared(bundle: tuple[Path, dict[str, Any]]) -> None:
    _, report = bundle
    by_ref = {f"{d['party']}/{d['id']}": d for d in report["declarations"]}
    for ref in ("RU-FORCES/mp-patrol-0825", "US-CJTF/matv-block-0825"):
        assert by_ref[ref]["cleared"], ref
        assert by_ref[ref]["state_at_incident"] == "cleared"
        assert by_ref[ref]["cleared_since"] is not None
    # The notified side's acknowledgement is in the history of the one it cleared.
    history = [h["type"] for d in report["declarations"] for h in d["history"]]
    assert "response" in history and "declaration.state" in history
    # Far-away declarations (the Qamishli base) are not in it.
    assert "RU-FORCES/qamishli-base" not in by_ref


def test_where_each_side_was(bundle: tuple[Path, dict[str, Any]]) -> None:
    _, report = bundle
    units = {(t["party"], t["unit"]) for t in report["tracks"]}
    assert units == {("RU-FORCES", "mp-lead-1"), ("US-CJTF", "matv-block-1")}
    for t in report["tracks"]:
        assert len(t["points"]) > 10
        for p in t["points"]:
            assert INCIDENT.start_s <= p["t"] <= INCIDENT.end_s
    [closest] = report["closest_approaches"]
    assert set(closest["parties"]) == {"RU-FORCES", "US-CJTF"}
    assert closest["distance_m"] < 1000


def test_who_left_its_cleared_plan_and_alert_order(bundle: tuple[Path, dict[str, Any]]) -> None:
    _, report = bundle
    alerted = [d for d in report["deviations"] if d["source"] == "alert"]
    assert alerted and {tuple(d["units"]) for d in alerted} == {("RU-FORCES/mp-lead-1",)}
    assert alerted[0]["declarations"] == ["RU-FORCES/mp-patrol-0825"]
    assert all(d["parties"] == ["RU-FORCES"] for d in report["deviations"])
    opens = [(a["type"], a["event"]) for a in report["alerts"] if a["event"] in ("open", "close")]
    assert opens.index(("predicted_proximity", "open")) < opens.index(("proximity", "open"))
    assert opens.index(("proximity", "open")) < opens.index(("deviation", "open"))
    assert opens.index(("deviation", "open")) < opens.index(("deviation", "close"))
    times = [rc.parse_time(a["time"]) for a in report["alerts"]]
    assert times == sorted(times)
    [message] = report["messages"]
    assert message["from"] == "RU-FORCES" and "notified route" in message["text"]


def test_every_cited_entry_verifies_against_one_checkpoint(
    bundle: tuple[Path, dict[str, Any]],
) -> None:
    folder, report = bundle
    assert {p.name for p in folder.iterdir()} == {
        "report.json", "report.html", "checkpoint.txt", "log-key.pub"
    }  # fmt: skip
    cited = {e["index"] for e in report["entries"]}
    for d in report["declarations"]:
        assert {v["index"] for v in d["versions"]} <= cited
        assert {h["index"] for h in d["history"]} <= cited
    assert {a["index"] for a in report["alerts"]} <= cited
    assert {i for t in report["tracks"] for i in t["entries"]} <= cited
    assert max(cited) < report["checkpoint"]["tree_size"]
    check = rc.verify_bundle(folder)
    assert check.ok, check.problems
    assert check.entries == len(cited)
    page = (folder / "report.html").read_text(encoding="utf-8")
    assert (
        "<svg" in page
        and "<script" not in page
        and "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    )


def test_a_tampered_proof_or_entry_fails(
    bundle: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    folder, report = bundle
    for name in ("checkpoint.txt", "log-key.pub", "report.html"):
        (tmp_path / name).write_bytes((folder / name).read_bytes())
    bad = json.loads(json.dumps(report))
    item = next(e for e in bad["entries"] if e["inclusion"])
    h = item["inclusion"][0]
    item["inclusion"][0] = ("0" if h[0] != "0" else "1") + h[1:]
    (tmp_path / "report.json").write_text(json.dumps(bad), encoding="utf-8")
    check = rc.verify_bundle(tmp_path)
    assert not check.ok and f"entry {item['index']}" in check.problems[0]
    # An opened content that is not what the entry committed to.
    bad = json.loads(json.dumps(report))
    item = next(e for e in bad["entries"] if "sealed" in e)
    item["sealed"]["content"] = item["sealed"]["content"].replace("cleared", "objected")
    item["sealed"]["content"] += " "
    (tmp_path / "report.json").write_text(json.dumps(bad), encoding="utf-8")
    assert not rc.verify_bundle(tmp_path).ok
    # A checkpoint checked against another key.
    other = NoteSigner("deconflict.test", SigningKey.generate()).verifier
    assert not rc.verify_bundle(folder, key=str(other)).ok


def test_the_cli_writes_and_verifies_the_bundle(
    bundle: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    store = bundle[0].parent / "r.sqlite"
    runner = CliRunner()
    args = ["incident", "--at", "2020-08-25T07:00Z", "--near", "37.17,42.14", "--radius", "5km"]
    args += ["--window", "30min", "--out", str(tmp_path / "out"), "--db", str(store)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, (result.stdout, result.stderr)
    assert "4 declarations, 2 tracks" in result.stdout
    assert {p.name for p in (tmp_path / "out").iterdir()} == {
        "report.json", "report.html", "checkpoint.txt", "log-key.pub"
    }  # fmt: skip
    doc = json.loads((tmp_path / "out" / "report.json").read_text(encoding="utf-8"))
    assert doc["query"]["radius_m"] == 5000 and doc["query"]["window_s"] == 1800
    ok = runner.invoke(app, ["log", "verify-bundle", str(tmp_path / "out")])
    assert ok.exit_code == 0 and "bundle verifies" in ok.stdout, (ok.stdout, ok.stderr)
    (tmp_path / "out" / "checkpoint.txt").write_text("nonsense\n", encoding="utf-8")
    assert runner.invoke(app, ["log", "verify-bundle", str(tmp_path / "out")]).exit_code == 1
    bad = runner.invoke(app, [*args[:-4], "--radius", "far", "--out", "x", "--db", str(store)])
    assert bad.exit_code == 2 and "not a distance" in bad.stderr
