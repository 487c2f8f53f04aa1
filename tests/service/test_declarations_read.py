"""The API's hot read (`read_answer`: authentication and the read on one snapshot, the
answer as JSON bytes, parts of it kept between reads) answers exactly what `read` does,
for every kind of viewer, on both stores, and refuses a revoked token at once."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from deconflict.errors import NotFound, Unauthorized
from deconflict.export.times import format_time
from deconflict.service import OPERATOR_PRINCIPAL, Principal, Service, parties
from deconflict.service import declarations as decls
from deconflict.store.database import Database
from stores import STORES, fresh_postgres

DAY_S = 86400.0
T0 = 1_800_000_000.0


def movement(party: str, decl_id: str, lon: float, start_s: float) -> dict[str, Any]:
    return {
        "type": "Feature",
        "geometry": {"type": "LineString", "coordinates": [[lon, 36.0], [lon + 0.05, 36.0]]},
        "properties": {
            "id": decl_id,
            "party": party,
            "kind": "movement",
            "times": [format_time(start_s), format_time(start_s + 1800)],
        },
    }


class World:
    def __init__(self, svc: Service) -> None:
        self.svc = svc
        self.tokens: dict[str, str] = {}

    def bearer(self, name: str) -> str:
        return f"Bearer {self.tokens[name]}"


@pytest.fixture(params=STORES)
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    url = str(tmp_path / "r.sqlite") if request.param == "sqlite" else fresh_postgres("read")
    svc = Service(Database(url), clock=lambda: T0)
    try:
        w = World(svc)
        for name, kind in (
            ("ALPHA", "force"),
            ("BRAVO", "force"),
            ("CHARLIE", "observer"),
            ("HOPE", "humanitarian"),
        ):
            w.tokens[name] = parties.add_party(svc, OPERATOR_PRINCIPAL, name, kind)[1].token
        w.tokens["@operator"] = parties.operator_token(svc, "test").token
        parties.set_observers(svc, Principal("ALPHA", "t"), ["CHARLIE"])
        start = T0 + 3 * DAY_S
        # ALPHA's patrol is crossed by BRAVO's convoy and by HOPE's relief convoy; BRAVO's
        # other movement, far away, meets nobody.
        for party, decl_id, lon in (
            ("ALPHA", "patrol", 40.0),
            ("BRAVO", "convoy", 40.0),
            ("HOPE", "relief", 40.01),
            ("BRAVO", "far", 44.0),
        ):
            doc = movement(party, decl_id, lon, start)
            decls.submit(svc, Principal(party, "t"), json.dumps(doc).encode())
        yield w
    finally:
        svc.close()


def same_as_read(w: World, viewer: str, party: str, decl_id: str) -> dict[str, Any]:
    who, raw, etag = decls.read_answer(w.svc, w.bearer(viewer), party, decl_id)
    assert who.party == viewer
    expected, expected_etag = decls.read(w.svc, who, party, decl_id)
    answer = json.loads(raw)
    assert answer == expected
    assert list(answer) == list(expected)  # the same keys in the same order
    assert etag == expected_etag
    return answer


def test_the_hot_read_answers_what_read_does_for_every_viewer(world: World) -> None:
    owner = same_as_read(world, "ALPHA", "ALPHA", "patrol")
    assert owner["access"] == "owner" and len(owner["conflicts"]) == 2
    assert owner["versions"] == [1] and owner["features"][0]["properties"]["id"] == "patrol"
    assert same_as_read(world, "BRAVO", "BRAVO", "far")["conflicts"] == []
    assert same_as_read(world, "CHARLIE", "ALPHA", "patrol")["access"] == "observer"
    assert same_as_read(world, "@operator", "ALPHA", "patrol")["access"] == "operator"
    seen = same_as_read(world, "ALPHA", "BRAVO", "convoy")  # a conflicting portion only
    assert seen["whole"] is False and seen["conflicts"]
    same_as_read(world, "ALPHA", "HOPE", "relief")
    same_as_read(world, "HOPE", "ALPHA", "patrol")
    with pytest.raises(NotFound):  # nothing of BRAVO's far movement is ALPHA's to see
        decls.read_answer(world.svc, world.bearer("ALPHA"), "BRAVO", "far")
    with pytest.raises(NotFound):
        decls.read_answer(world.svc, world.bearer("ALPHA"), "ALPHA", "nothing")


def test_the_hot_read_follows_changes_to_what_it_keeps(world: World) -> None:
    """The clearance and conflicts kept as JSON between reads change with the store: an
    answer, a share, an amendment that removes the conflicts."""
    same_as_read(world, "ALPHA", "ALPHA", "patrol")
    alpha = Principal("ALPHA", "t")
    decls.respond(world.svc, alpha, "BRAVO", "convoy", "acknowledge", b"{}")
    after = same_as_read(world, "BRAVO", "BRAVO", "convoy")
    assert [r["party"] for r in after["clearance"]["responses"]] == ["ALPHA"]
    decls.share(world.svc, alpha, "ALPHA", "patrol", True)
    assert same_as_read(world, "ALPHA", "ALPHA", "patrol")["shared"] is True
    etag = same_as_read(world, "ALPHA", "ALPHA", "patrol")["etag"]
    moved = movement("ALPHA", "patrol", 46.0, T0 + 3 * DAY_S)
    decls.amend(world.svc, alpha, "ALPHA", "patrol", json.dumps(moved).encode(), if_match=etag)
    amended = same_as_read(world, "ALPHA", "ALPHA", "patrol")
    assert amended["versions"] == [1, 2] and amended["conflicts"] == []


def test_the_hot_read_refuses_a_revoked_or_bad_token_at_once(world: World) -> None:
    decls.read_answer(world.svc, world.bearer("ALPHA"), "ALPHA", "patrol")
    token_id = world.tokens["ALPHA"].split("_")[1]
    parties.revoke_token(world.svc, OPERATOR_PRINCIPAL, token_id)
    for header in (world.bearer("ALPHA"), None, "Bearer nonsense", world.bearer("BRAVO") + "x"):
        with pytest.raises(Unauthorized):
            decls.read_answer(world.svc, header, "ALPHA", "patrol")
