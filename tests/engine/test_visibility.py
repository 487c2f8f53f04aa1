"""Need-to-know (SPEC section 4): what each party may see of another's declaration, with
conflicts found by the real engine on small hand-built plans."""

from __future__ import annotations

import pytest
import shapely

from deconflict.engine import Engine
from deconflict.engine.visibility import (
    NOT_VISIBLE,
    Access,
    ShareList,
    route_portion,
    visible_to,
)
from deconflict.errors import NotFound
from deconflict.model import Conflict, Movement, Party, PartyKind, Policy, Site

T0 = 1_598_342_400.0
STEP_S = 600.0
BLUE = Party("blue", PartyKind.FORCE)
RED = Party("red", PartyKind.FORCE)
GREEN = Party("green", PartyKind.FORCE)
UN = Party("un", PartyKind.OBSERVER)


def patrol(uncertainty_s: float = 0.0) -> Movement:
    """Blue drives east along 36 N from 35.0 E to 36.0 E, 0.1 degree every 10 minutes."""
    return Movement(
        "patrol-7",
        "blue",
        tuple((35.0 + k / 10, 36.0) for k in range(11)),
        tuple(T0 + k * STEP_S for k in range(11)),
        time_uncertainty_s=uncertainty_s,
        properties={"name": "7th patrol", "unit": "B company"},
    )


def crossing(ident: str, lon: float, at_s: float) -> Movement:
    """Red drives north across 36 N at `lon`, reaching it at `at_s`."""
    return Movement(ident, "red", ((lon, 35.95), (lon, 36.05)), (at_s - 600.0, at_s + 600.0))


HOSPITAL = Site("hospital", "red", shapely.Point(35.3, 36.004), properties={"beds": 40})


def conflicts(blue: Movement, *others: Movement | Site) -> list[Conflict]:
    eng = Engine(Policy())
    eng.add_many(others)
    return eng.conflicts_of(blue)


def on_route_at(lon: float, lat: float, t_s: float) -> bool:
    """Is (lon, lat) where the patrol's plan puts it at t (constant speed per leg)?"""
    expected = 35.0 + (t_s - T0) / STEP_S / 10
    return abs(lon - expected) < 1e-6 and abs(lat - 36.0) < 1e-4


def test_spec_4_owner_sees_the_whole_declaration() -> None:
    blue = patrol()
    found = conflicts(blue, crossing("r1", 35.5, T0 + 5 * STEP_S))
    seen = visible_to(blue, found, BLUE)
    assert (seen.access, seen.whole, seen.parts) == (Access.OWNER, True, (blue,))
    assert seen.conflicts == tuple(found)


def test_spec_4_named_observer_sees_the_whole_declaration() -> None:
    blue = patrol()
    seen = visible_to(blue, [], UN, ShareList(observers=frozenset({"un"})))
    assert (seen.access, seen.parts) == (Access.OBSERVER, (blue,))
    assert seen.parts[0].properties["name"] == "7th patrol"
    with pytest.raises(NotFound):
        visible_to(blue, [], UN)  # not named
    with pytest.raises(NotFound):  # a force named as an observer gains nothing
        visible_to(blue, [], GREEN, ShareList(observers=frozenset({"green"})))


def test_spec_4_what_the_owner_chose_to_share_is_seen_whole() -> None:
    seen = visible_to(patrol(), [], GREEN, ShareList(shared_ids=frozenset({"patrol-7"})))
    assert (seen.access, seen.whole) == (Access.SHARED, True)


def test_spec_4_conflicting_party_sees_only_the_conflicting_portion() -> None:
    blue = patrol()
    (c,) = conflicts(blue, crossing("r1", 35.5, T0 + 5 * STEP_S))
    seen = visible_to(blue, [c], RED, margin_s=60.0)
    assert (seen.access, seen.whole, seen.conflicts) == (Access.CONFLICT, False, (c,))
    (part,) = seen.parts
    assert isinstance(part, Movement) and part.properties == {}
    assert part.times_s[0] == c.start_s - 60.0 and part.times_s[-1] == c.end_s + 60.0
    for (lon, lat), t in zip(part.positions, part.times_s, strict=True):
        assert on_route_at(lon, lat, t)
    # Every waypoint of the plan outside the window is absent: the start, the end, and
    # all but the one the conflict is centred on.
    inside = [p for p, t in zip(blue.positions, blue.times_s, strict=True) if p in part.positions]
    assert inside == [(35.5, 36.0)]
    assert blue.positions[0] not in part.positions and blue.positions[-1] not in part.positions
    assert all(abs(lon - 35.5) < 0.02 for lon, _ in part.positions)


def test_spec_4_uncertainty_widens_the_portion() -> None:
    blue = patrol(uncertainty_s=300.0)
    (c,) = conflicts(blue, crossing("r1", 35.5, T0 + 5 * STEP_S))
    (part,) = visible_to(blue, [c], RED, margin_s=0.0).parts
    assert isinstance(part, Movement)
    assert part.times_s[0] == c.start_s - 300.0 and part.times_s[-1] == c.end_s + 300.0


def test_spec_4_separate_conflicts_give_separate_portions() -> None:
    blue = patrol()
    found = conflicts(
        blue, crossing("r1", 35.2, T0 + 2 * STEP_S), crossing("r2", 35.8, T0 + 8 * STEP_S)
    )
    parts = visible_to(blue, found, RED).parts
    assert len(found) == 2 and len(parts) == 2
    assert parts[0].end_s < parts[1].start_s
    merged = visible_to(blue, found, RED, margin_s=4 * STEP_S).parts
    assert len(merged) == 1


def test_spec_4_conflicting_site_is_seen_by_its_geometry_only() -> None:
    blue = patrol()
    found = conflicts(blue, HOSPITAL)
    assert [c.b for c in found] == ["hospital"]
    seen = visible_to(HOSPITAL, found, BLUE)
    (site,) = seen.parts
    assert isinstance(site, Site) and site.geometry.equals(HOSPITAL.geometry)
    assert site.properties == {} and not seen.whole
    # And red sees of the patrol only where it passes its hospital.
    (part,) = visible_to(blue, found, RED).parts
    assert isinstance(part, Movement)
    assert all(abs(lon - 35.3) < 0.05 for lon, _ in part.positions)


def test_spec_4_anyone_else_sees_nothing_not_even_that_it_exists() -> None:
    blue = patrol()
    found = conflicts(blue, crossing("r1", 35.5, T0 + 5 * STEP_S))
    for viewer in (GREEN, UN):
        with pytest.raises(NotFound) as err:
            visible_to(blue, found, viewer)
        message = err.value.message
        assert message == NOT_VISIBLE and err.value.details is None
        for secret in ("patrol-7", "blue", "35.", "36.", "7th"):
            assert secret not in message


def test_route_portion_cuts_along_the_plan() -> None:
    blue = patrol()
    part = route_portion(blue, T0 + 250.0, T0 + 1300.0)
    assert part is not None
    assert part.times_s == (T0 + 250.0, T0 + 600.0, T0 + 1200.0, T0 + 1300.0)
    for (lon, lat), t in zip(part.positions, part.times_s, strict=True):
        assert on_route_at(lon, lat, t)
    assert route_portion(blue, T0 - 100.0, T0 - 50.0) is None
    whole = route_portion(blue, T0 - 1e6, T0 + 1e6)
    assert whole is not None and whole.positions == blue.positions


def test_conflicts_of_another_declaration_are_refused() -> None:
    other = crossing("r1", 35.5, T0)
    stray = Conflict("a", "b", "green", "red", T0, T0, 0.0, (35.0, 36.0))
    with pytest.raises(ValueError, match="does not involve"):
        visible_to(other, [stray], RED)
