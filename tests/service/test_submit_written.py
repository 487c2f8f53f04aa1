"""A submission answers from what it wrote (not read back) exactly what reading it back
gave, on both stores; on SQLite its statements run on the driver's connection and store
exactly what the SQLAlchemy path stores."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from deconflict.export.times import format_time
from deconflict.service import OPERATOR_PRINCIPAL, Principal, Service, parties
from deconflict.service import declarations as decls
from deconflict.store.database import Database
from deconflict.store.repository import Repository
from stores import STORES, fresh_postgres

DAY_S = 86400.0
T0 = 1_800_000_000.0
START = T0 + 3 * DAY_S


def movement(party: str, decl_id: str, lon: float, lat: float, start_s: float) -> dict[str, Any]:
    return {
        "type": "Feature",
        "geometry": {
            "type": "LineString",
            "coordinates": [[lon, lat], [lon + 0.05, lat + 0.01], [lon + 0.1, lat]],
        },
        "properties": {
            "id": decl_id,
            "party": party,
            "kind": "movement",
            "times": [
                format_time(start_s),
                format_time(start_s + 900),
                format_time(start_s + 1800),
            ],
        },
    }


SUBMISSIONS: list[tuple[str, dict[str, Any]]] = [
    ("ALPHA", movement("ALPHA", "patrol", 40.0, 36.0, START)),
    ("BRAVO", movement("BRAVO", "convoy", 40.0, 36.0, START + 60)),
    ("HOPE", movement("HOPE", "relief", 40.01, 36.0, START + 120)),
    (
        "BRAVO",
        {
            "type": "FeatureCollection",
            "features": [
                movement("BRAVO", "second", 40.02, 36.0, START + 30),
                movement("BRAVO", "far", 44.0, 36.0, START),
            ],
        },
    ),
    ("ALPHA", movement("ALPHA", "again", 40.03, 36.001, START + 10)),
    ("HOPE", movement("HOPE", "late-one", 40.0, 36.0, T0 + 3600)),
]


def make(url: str) -> Service:
    svc = Service(Database(url), clock=lambda: T0)
    for name, kind in (
        ("ALPHA", "force"),
        ("BRAVO", "force"),
        ("CHARLIE", "observer"),
        ("HOPE", "humanitarian"),
    ):
        parties.add_party(svc, OPERATOR_PRINCIPAL, name, kind)
    parties.set_observers(svc, Principal("ALPHA", "t"), ["CHARLIE"])
    return svc


@pytest.fixture(params=STORES)
def svc(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Service]:
    url = str(tmp_path / "w.sqlite") if request.param == "sqlite" else fresh_postgres("written")
    s = make(url)
    try:
        yield s
    finally:
        s.close()


def test_answer_is_what_reading_back_gives(svc: Service) -> None:
    found = 0
    for party, doc in SUBMISSIONS:
        status, body = decls.submit(svc, Principal(party, "t"), json.dumps(doc).encode())
        assert status == 201
        with svc.read() as repo:
            for view in body["declarations"]:
                ref = view["declaration"]
                row = repo.current(ref["party"], ref["id"])
                assert row is not None
                back = decls.owner_view(svc, repo, row)
                assert json.dumps(view) == json.dumps(back)
                found += len(view["conflicts"])
    assert found >= 3  # the case is worth something: several conflicts, notifications


TABLES = ("declarations", "conflicts", "notifications", "events", "engine_changes")


def stored(path: Path) -> dict[str, list[Any]]:
    con = sqlite3.connect(path)
    try:
        return {
            name: con.execute(f"SELECT * FROM {name} ORDER BY rowid").fetchall() for name in TABLES
        }
    finally:
        con.close()


def test_sqlite_driver_path_stores_what_sqlalchemy_stores(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    answers: dict[str, list[str]] = {}
    for tag in ("driver", "sqlalchemy"):
        with monkeypatch.context() as m:
            if tag == "sqlalchemy":
                m.setattr(Repository, "_sqlite", lambda self: None)
            svc = make(str(tmp_path / f"{tag}.sqlite"))
            try:
                out = answers[tag] = []
                for party, doc in SUBMISSIONS:
                    result = decls.submit(svc, Principal(party, "t"), json.dumps(doc).encode())
                    out.append(json.dumps(result))
                with svc.read() as repo:
                    assert len(repo.conflicts_of("ALPHA", "patrol")) >= 2
                    assert repo.exists("BRAVO", "far") and not repo.exists("BRAVO", "nope")
                    assert repo.observers("ALPHA") == ["CHARLIE"]
                    assert [p.name for p in repo.parties()] == ["ALPHA", "BRAVO", "CHARLIE", "HOPE"]
            finally:
                svc.close()
    assert answers["driver"] == answers["sqlalchemy"]
    a, b = stored(tmp_path / "driver.sqlite"), stored(tmp_path / "sqlalchemy.sqlite")
    assert all(a[name] for name in TABLES)
    assert a == b


def test_a_checked_movement_is_indexed_as_an_unchecked_one() -> None:
    """The engine reuses the segments it built to check a new movement when it indexes
    that same movement (a submission): the index, so every later answer, is the same."""
    from deconflict.engine import Engine
    from deconflict.ingest import parse_declarations

    docs = [doc for _, doc in SUBMISSIONS]
    decls = [d for doc in docs for d in parse_declarations(doc, source="test").declarations]
    checked, plain = Engine(), Engine()
    for d in decls:
        found = checked.conflicts_of(d)
        checked.add_many([d])
        assert found == plain.conflicts_of(d)
        plain.add_many([d])
    assert checked.all_conflicts() == plain.all_conflicts()
    assert len(checked.all_conflicts()) >= 3
    for d in decls:
        assert checked.conflicts_of(d.key) == plain.conflicts_of(d.key)


def test_live_rows_on_the_driver_are_those_of_sqlalchemy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    svc = make(str(tmp_path / "live.sqlite"))
    try:
        for party, doc in SUBMISSIONS:
            decls.submit(svc, Principal(party, "t"), json.dumps(doc).encode())
        with svc.read() as repo:
            far = repo.current("BRAVO", "far")
        assert far is not None
        bravo = Principal("BRAVO", "t")
        decls.owner_action(svc, bravo, "BRAVO", "far", "withdraw", b"{}", if_match=far.etag)
        with svc.read() as repo:
            driver = sorted(repo.live(), key=lambda r: (r.party, r.id))
        with monkeypatch.context() as m:
            m.setattr(Repository, "_sqlite", lambda self: None)
            with svc.read() as repo:
                plain = sorted(repo.live(), key=lambda r: (r.party, r.id))
        assert driver == plain
        assert len(driver) == len(SUBMISSIONS)  # 7 declared, one withdrawn
        assert {type(r.current) for r in driver} == {bool}
    finally:
        svc.close()
