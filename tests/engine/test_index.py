"""The index itself: incremental adds, removals and compaction keep answers identical to a
fresh bulk build (SPEC 3 answers must not depend on the history of the index)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from deconflict.engine import Engine
from deconflict.errors import AlreadyExists, NotFound
from deconflict.model import DeclarationKey, Policy

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from synthetic import movements  # noqa: E402


def _key(c):  # type: ignore[no-untyped-def]
    return (
        c.party_a,
        c.a,
        c.party_b,
        c.b,
        round(c.start_s, 2),
        round(c.end_s, 2),
        round(c.min_distance_m, 3),
    )


def test_compaction_after_many_removals_keeps_answers() -> None:
    decls = movements(900, seed=5, side_km=60, days=1)
    eng = Engine(Policy())
    eng.add_many(decls)
    removed = decls[:700]
    for d in removed:
        eng.remove(d.key)
    # Once the dead segments outnumbered the live ones the store was rebuilt: it holds
    # fewer rows than were ever added, and the live ones plus those removed since.
    stored = eng._store.rows
    assert stored < 900 * 20
    assert stored == 200 * 20 + eng._store.dead
    fresh = Engine(Policy())
    fresh.add_many(decls[700:])
    got = sorted(map(_key, eng.all_conflicts()))
    assert got == sorted(map(_key, fresh.all_conflicts()))
    assert got, "the scenario must have conflicts to compare"
    probe = decls[750]
    assert sorted(map(_key, eng.conflicts_of(probe.key))) == sorted(
        map(_key, fresh.conflicts_of(probe.key))
    )
    # Removed declarations are gone for good, and can be added again.
    assert removed[0].key not in eng
    eng.add(removed[0])
    assert removed[0].key in eng


def test_one_at_a_time_equals_bulk() -> None:
    decls = movements(300, seed=6, side_km=40, days=1)
    bulk = Engine(Policy())
    bulk.add_many(decls)
    one = Engine(Policy())
    for d in decls:
        one.add(d)
    assert sorted(map(_key, one.all_conflicts())) == sorted(map(_key, bulk.all_conflicts()))
    assert len(one) == len(bulk) == 300


def test_duplicate_and_missing_keys_are_refused_and_change_nothing() -> None:
    decls = movements(3, seed=7)
    eng = Engine(Policy())
    eng.add_many(decls)
    with pytest.raises(AlreadyExists, match="already indexed"):
        eng.add_many([movements(1, seed=8, prefix="new")[0], decls[0]])
    assert len(eng) == 3 and DeclarationKey("P0", "new0") not in eng
    with pytest.raises(NotFound, match="No declaration"):
        eng.remove(DeclarationKey("nobody", "nothing"))
