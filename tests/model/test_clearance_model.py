"""Parties (SPEC section 1) and the clearance values and notice policy (SPEC section 4)."""

from __future__ import annotations

import math

import pytest
import shapely

from deconflict.errors import DeconflictError
from deconflict.model import (
    ClearanceState,
    DeclarationKey,
    DeclarationKind,
    Movement,
    NoticePolicy,
    Party,
    PartyKind,
    ResponseKind,
    Site,
)
from deconflict.model.clearance import (
    FINAL_STATES,
    OPERATOR,
    Clearance,
    NoticeReason,
    Notification,
    Response,
)
from deconflict.model.parties import InvalidParty, check_party_name

H = 3600.0


@pytest.mark.parametrize("name", ["a", "UN-OCHA_2", "x" * 32, "0", "-_-"])
def test_spec_1_party_names_that_follow_the_rule(name: str) -> None:
    assert Party(name, PartyKind.FORCE).name == name


@pytest.mark.parametrize("name", ["", "x" * 33, "with space", "café", "a/b", "a\n", None, 7])
def test_spec_1_party_names_that_break_the_rule_are_refused(name: object) -> None:
    with pytest.raises(InvalidParty, match="letters, digits") as err:
        Party(name, PartyKind.FORCE)  # type: ignore[arg-type]
    assert isinstance(err.value, DeconflictError) and err.value.http_status == 422


def test_spec_1_party_kinds() -> None:
    assert [k.value for k in PartyKind] == ["force", "humanitarian", "observer"]
    assert Party("un", "observer").kind is PartyKind.OBSERVER  # type: ignore[arg-type]
    with pytest.raises(InvalidParty, match="one of force, humanitarian, observer"):
        Party("un", "mediator")  # type: ignore[arg-type]


def test_party_keys_are_raw_ed25519_public_keys() -> None:
    assert Party("blue", PartyKind.FORCE, (b"k" * 32,)).public_keys == (b"k" * 32,)
    with pytest.raises(InvalidParty, match="32 raw bytes"):
        Party("blue", PartyKind.FORCE, (b"short",))


def test_operator_can_never_be_a_party_name() -> None:
    with pytest.raises(InvalidParty):
        check_party_name(OPERATOR)


def test_spec_4_states_and_answers() -> None:
    assert [s.value for s in ClearanceState] == [
        "submitted",
        "notified",
        "cleared",
        "objected",
        "active",
        "completed",
        "withdrawn",
        "expired",
    ]
    assert FINAL_STATES == {"completed", "withdrawn", "expired"}
    assert [k.value for k in ResponseKind] == ["acknowledge", "object"]


def _movement(start_s: float, **props: object) -> Movement:
    return Movement(
        "m1", "blue", ((36.0, 36.0), (36.1, 36.0)), (start_s, start_s + H), properties=props
    )


def test_spec_4_minimum_notice_per_kind_and_emergency() -> None:
    policy = NoticePolicy()
    assert policy.notice_for(_movement(0.0)) == 48 * H
    assert policy.notice_for(_movement(0.0, emergency=True)) == 24 * H
    # Only a JSON true marks an emergency; a string does not.
    assert policy.notice_for(_movement(0.0, emergency="true")) == 48 * H
    site = Site("s1", "blue", shapely.Point(36.0, 36.0))
    assert policy.notice_for(site) == 24 * H


def test_response_deadline_rule() -> None:
    p = NoticePolicy()
    # Plenty of time: 24 h after notification.
    assert p.deadline(0.0, 100 * H) == 24 * H
    # Starts in 10 h: answers due 1 h before the start.
    assert p.deadline(0.0, 10 * H) == 9 * H
    # Starts in 30 min (or already started): never less than the 1 h floor.
    assert p.deadline(0.0, 0.5 * H) == 1 * H
    assert p.deadline(0.0, -5 * H) == 1 * H
    # Open-ended start: the window alone.
    assert p.deadline(0.0, -math.inf) == 24 * H


def test_notice_policy_refuses_nonsense() -> None:
    with pytest.raises(ValueError, match="response_floor_s"):
        NoticePolicy(response_floor_s=-1.0)
    with pytest.raises(ValueError, match="movement_notice_s"):
        NoticePolicy(movement_notice_s=math.nan)


def test_clearance_helpers() -> None:
    n = (
        Notification("red", (NoticeReason.CONFLICT,), ("r1",), 0.0, 10.0),
        Notification("green", (NoticeReason.HUMANITARIAN_TO_FORCE,), (), 0.0, 10.0),
    )
    c = Clearance(
        key=DeclarationKey("blue", "m1"),
        version=1,
        kind=DeclarationKind.MOVEMENT,
        state=ClearanceState.NOTIFIED,
        submitted_at_s=0.0,
        plan_start_s=100.0,
        plan_end_s=200.0,
        notice_s=48 * H,
        late=True,
        pending_until_s=100.0,
        active_until_s=200.0,
        notifications=n,
        responses=(Response("red", ResponseKind.ACKNOWLEDGE, "", 1.0),),
    )
    assert c.owner == "blue"
    assert c.awaiting == ("green",)
    assert c.notification_for("green") is n[1] and c.notification_for("blue") is None
    assert c.response_of("red") is not None and c.response_of("green") is None
