"""The clearance workflow (SPEC section 4): who is notified, answers, deadlines, the
owner's actions, amendments, and a property test that no sequence of actions breaks it."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from deconflict.engine import Engine
from deconflict.engine.clearance import (
    LEGAL_TRANSITIONS,
    NOT_AWAITING,
    InvalidTransition,
    ReasonRequired,
    activate,
    amend,
    complete,
    expire_due,
    respond,
    submit,
    withdraw,
)
from deconflict.errors import DeconflictError, Forbidden, NotFound
from deconflict.model import Clearance, ClearanceState, Movement, Party, PartyKind, Policy
from deconflict.model.clearance import OPERATOR, NoticeReason

S = ClearanceState
H = 3600.0
T0 = 1_598_342_400.0  # 2020-08-25T08:00:00Z: every plan starts here
PARTIES = (
    Party("blue", PartyKind.FORCE),
    Party("red", PartyKind.FORCE),
    Party("aid", PartyKind.HUMANITARIAN),
    Party("un", PartyKind.OBSERVER),
)


def east(party: str, ident: str, lat: float = 36.0, **props: object) -> Movement:
    """An hour's drive east along a parallel, from T0."""
    return Movement(ident, party, ((36.0, lat), (36.1, lat)), (T0, T0 + H), properties=props)


def north(party: str, ident: str, lon: float = 36.05) -> Movement:
    """An hour's drive north across `east`'s route, from T0."""
    return Movement(ident, party, ((lon, 35.95), (lon, 36.05)), (T0, T0 + H))


def clear_of(decl: Movement, *others: Movement, now_s: float = T0 - 72 * H) -> Clearance:
    eng = Engine(Policy())
    eng.add_many(others)
    return submit(decl, eng.conflicts_of(decl), PARTIES, now_s)


def test_spec_4_cleared_at_once_with_nobody_to_notify() -> None:
    c = clear_of(east("blue", "b1"), east("red", "far", lat=37.0))
    assert c.state is S.CLEARED and c.notifications == () and not c.late
    assert [(t.from_state, t.to_state, t.by_party) for t in c.history] == [
        (None, S.SUBMITTED, "blue"),
        (S.SUBMITTED, S.CLEARED, "blue"),
    ]


def test_spec_4_every_conflicting_party_is_notified_never_the_owner() -> None:
    c = clear_of(east("blue", "b1"), north("red", "r1"), north("blue", "b2"))
    assert c.state is S.NOTIFIED
    (note,) = c.notifications
    assert (note.party, note.reasons, note.conflicting_ids) == ("red", ("conflict",), ("r1",))
    assert c.history[-1].by_party == "blue"


def test_spec_4_humanitarian_declaration_notifies_every_force() -> None:
    c = clear_of(east("aid", "convoy"), north("red", "r1"))
    got = {n.party: n.reasons for n in c.notifications}
    assert got == {
        "blue": (NoticeReason.HUMANITARIAN_TO_FORCE,),
        "red": (NoticeReason.CONFLICT, NoticeReason.HUMANITARIAN_TO_FORCE),
    }


def test_spec_4_observers_are_notified_only_when_they_conflict() -> None:
    assert "un" not in {n.party for n in clear_of(east("aid", "c1")).notifications}
    c = clear_of(east("blue", "b1"), north("un", "team"))
    assert [n.party for n in c.notifications] == ["un"]


def test_spec_4_late_submission_is_accepted_and_flagged() -> None:
    assert not clear_of(east("blue", "b1"), now_s=T0 - 48 * H).late
    late = clear_of(east("blue", "b1"), now_s=T0 - 10 * H)
    assert late.late and late.state is S.CLEARED
    assert "late" in late.history[0].reason and "48.0 h" in late.history[0].reason
    assert not clear_of(east("blue", "b1", emergency=True), now_s=T0 - 30 * H).late
    assert clear_of(east("blue", "b1", emergency=True), now_s=T0 - 20 * H).late


def notified(now_s: float = T0 - 72 * H) -> Clearance:
    """aid's convoy crossing red's patrol: red (conflict) and blue (force) are notified."""
    c = clear_of(east("aid", "convoy"), north("red", "r1"), now_s=now_s)
    assert c.state is S.NOTIFIED and [n.party for n in c.notifications] == ["blue", "red"]
    return c


def test_spec_4_all_acknowledged_clears_and_grants_nothing() -> None:
    c = respond(notified(), "red", "acknowledge", "", T0 - 70 * H, signature=b"sig")
    assert c.state is S.NOTIFIED and c.awaiting == ("blue",)
    assert c.responses[0].signature == b"sig"
    c = respond(c, "blue", "acknowledge", "", T0 - 69 * H)
    assert c.state is S.CLEARED
    last = c.history[-1]
    assert (last.by_party, last.at_s) == ("blue", T0 - 69 * H)
    assert "not a permission" in last.reason


def test_spec_4_objection_needs_a_reason() -> None:
    for empty in ("", "   "):
        with pytest.raises(ReasonRequired, match="needs a reason"):
            respond(notified(), "red", "object", empty, T0 - 70 * H)
    c = respond(notified(), "red", "object", "our patrol holds that crossing", T0 - 70 * H)
    assert c.state is S.OBJECTED and c.history[-1].by_party == "red"
    # Answers still come in after an objection; an acknowledgement does not undo it.
    c = respond(c, "blue", "acknowledge", "", T0 - 69 * H)
    assert c.state is S.OBJECTED and len(c.responses) == 2


def test_spec_4_only_notified_parties_respond_and_only_once() -> None:
    c = notified()
    with pytest.raises(NotFound) as err:
        respond(c, "un", "acknowledge", "", T0 - 70 * H)
    assert err.value.message == NOT_AWAITING and "convoy" not in NOT_AWAITING
    with pytest.raises(Forbidden):
        respond(c, "aid", "acknowledge", "", T0 - 70 * H)
    c = respond(c, "red", "acknowledge", "", T0 - 70 * H)
    with pytest.raises(InvalidTransition, match="already recorded"):
        respond(c, "red", "object", "changed our mind", T0 - 69 * H)


def test_spec_4_deadline_refuses_late_answers_and_escalates() -> None:
    c = notified()
    deadline = c.notification_for("red").deadline_s  # type: ignore[union-attr]
    assert deadline == c.submitted_at_s + 24 * H
    assert respond(c, "red", "acknowledge", "", deadline).response_of("red") is not None
    with pytest.raises(InvalidTransition, match="deadline"):
        respond(c, "red", "acknowledge", "", deadline + 1)
    c = respond(c, "blue", "acknowledge", "", deadline - 1)
    c = expire_due(c, deadline + 1)
    # Silence is not consent: escalated to the operator, the convoy stays notified.
    assert c.escalated == ("red",) and c.state is S.NOTIFIED
    assert expire_due(c, deadline + 2) == c


def test_spec_4_not_cleared_by_its_start_expires() -> None:
    c = expire_due(notified(), T0 + 5 * H)
    assert c.state is S.EXPIRED and c.escalated == ("blue", "red")
    last = c.history[-1]
    # Stamped when it fell due, not when someone looked.
    assert (last.by_party, last.at_s) == (OPERATOR, T0)
    with pytest.raises(InvalidTransition):
        respond(notified(), "red", "acknowledge", "", T0 + 1)


def test_spec_4_late_submission_still_gives_the_floor_to_answer() -> None:
    c = notified(now_s=T0 - 0.5 * H)
    assert c.late and c.notifications[0].deadline_s == T0 + 0.5 * H
    assert c.pending_until_s == T0 + 0.5 * H
    assert respond(c, "red", "acknowledge", "", T0 + 0.5 * H).state is S.NOTIFIED
    assert expire_due(c, T0 + 0.5 * H + 1).state is S.EXPIRED


def test_spec_4_cleared_then_active_then_completed_by_the_owner() -> None:
    c = clear_of(east("blue", "b1"))
    with pytest.raises(Forbidden):
        activate(c, "red", T0)
    c = complete(activate(c, "blue", T0), "blue", T0 + H)
    assert [t.to_state for t in c.history][-2:] == [S.ACTIVE, S.COMPLETED]
    assert all(t.by_party == "blue" for t in c.history)
    with pytest.raises(InvalidTransition, match="completed"):
        withdraw(c, "blue", T0 + 2 * H)
    assert expire_due(c, T0 + 1000 * H) == c


def test_spec_4_going_ahead_despite_an_objection_is_on_the_record() -> None:
    c = respond(notified(), "red", "object", "curfew", T0 - 70 * H)
    with pytest.raises(ReasonRequired):
        activate(c, "aid", T0)
    c = activate(c, "aid", T0, "patients cannot wait")
    assert c.state is S.ACTIVE and c.history[-1].reason == "patients cannot wait"


def test_spec_4_time_passing_expires_what_was_never_used() -> None:
    cleared = clear_of(east("blue", "b1"))
    assert expire_due(cleared, T0 + H).state is S.CLEARED
    assert activate(cleared, "blue", T0 + H).state is S.ACTIVE  # at its end: still in time
    assert expire_due(cleared, T0 + H + 1).state is S.EXPIRED
    active = activate(cleared, "blue", T0)
    assert expire_due(active, T0 + 7 * H).state is S.ACTIVE
    assert expire_due(active, T0 + 8 * H).history[-1].at_s == T0 + 7 * H


def test_spec_4_withdraw_is_for_the_owner_only() -> None:
    c = notified()
    with pytest.raises(Forbidden, match="Only the declaring party"):
        withdraw(c, "red", T0 - 70 * H)
    c = withdraw(c, "aid", T0 - 70 * H, "mission cancelled")
    assert c.state is S.WITHDRAWN and c.history[-1].by_party == "aid"
    with pytest.raises(InvalidTransition, match="no longer takes answers"):
        respond(c, "red", "acknowledge", "", T0 - 69 * H)


def test_spec_4_amendment_is_version_2_and_keeps_version_1_history() -> None:
    v1 = respond(notified(), "red", "object", "curfew", T0 - 70 * H)
    eng = Engine(Policy())
    eng.add(north("red", "r1"))
    moved = east("aid", "convoy", lat=36.5)  # away from red's patrol
    old, v2 = amend(v1, moved, eng.conflicts_of(moved), PARTIES, T0 - 60 * H)
    assert old.history[: len(v1.history)] == v1.history
    assert old.state is S.WITHDRAWN and "version 2" in old.history[-1].reason
    assert old.responses == v1.responses
    assert (v2.version, v2.state, v2.responses) == (2, S.NOTIFIED, ())
    assert [n.party for n in v2.notifications] == ["blue", "red"]  # forces, no conflict
    assert v2.history[0].from_state is None and "version 2" in v2.history[0].reason
    with pytest.raises(InvalidTransition, match="party and id"):
        amend(v2, east("aid", "other"), [], PARTIES, T0 - 50 * H)
    done = complete(activate(clear_of(east("blue", "b1")), "blue", T0), "blue", T0 + H)
    with pytest.raises(InvalidTransition, match="completed"):
        amend(done, east("blue", "b1"), [], PARTIES, T0 + 2 * H)


def test_spec_4_illegal_transitions_are_refused() -> None:
    c = notified()
    with pytest.raises(InvalidTransition, match="notified and cannot become active") as err:
        activate(c, "aid", T0 - 70 * H)
    assert err.value.http_status == 409
    with pytest.raises(InvalidTransition, match="cannot become completed"):
        complete(c, "aid", T0 - 70 * H)
    with pytest.raises(InvalidTransition):
        complete(clear_of(east("blue", "b1")), "blue", T0)
    with pytest.raises(ValueError, match="not before"):
        withdraw(c, "aid", T0 - 100 * H)


def test_submit_refuses_unregistered_owner_and_foreign_conflicts() -> None:
    with pytest.raises(NotFound, match="not registered"):
        submit(east("ghost", "g1"), [], PARTIES, T0)
    eng = Engine(Policy())
    eng.add_many([east("blue", "b1"), north("red", "r1")])
    with pytest.raises(ValueError, match="does not involve"):
        submit(east("aid", "c1"), eng.all_conflicts(), PARTIES, T0)


# -- property: no sequence of actions leaves the workflow ----------------------------

ACTORS = ("owner", "owner", "blue", "red", "aid", "un")
VERBS = (
    ("ack",) * 4
    + ("activate",) * 3
    + ("complete",) * 2
    + (
        "object",
        "withdraw",
        "amend",
        "tick",
    )
)
actions = st.lists(
    st.tuples(
        st.sampled_from(VERBS),
        st.sampled_from(ACTORS),
        st.one_of(st.just(0.0), st.floats(0.0, 2 * H), st.floats(0.0, 30 * H)),
        st.sampled_from(("", "a reason", "a reason")),
    ),
    max_size=16,
)


def check(c: Clearance) -> None:
    h = c.history
    assert h[0].from_state is None and h[-1].to_state is c.state
    for prev, step in zip(h, h[1:], strict=False):
        assert step.from_state is prev.to_state and step.at_s >= prev.at_s
        assert step.to_state in LEGAL_TRANSITIONS[prev.to_state] and step.by_party
    notified_parties = {n.party for n in c.notifications}
    answered = [r.party for r in c.responses]
    assert len(answered) == len(set(answered)) and set(answered) <= notified_parties
    assert c.owner not in notified_parties
    assert set(c.escalated) <= notified_parties - set(answered)
    if S.CLEARED in (t.to_state for t in h):
        acks = [r for r in c.responses if r.kind == "acknowledge"]
        assert len(acks) == len(notified_parties) or not notified_parties


@given(actions, st.booleans())
def test_spec_4_no_sequence_of_actions_breaks_the_workflow(
    steps: list[tuple[str, str, float, str]], humanitarian: bool
) -> None:
    owner = "aid" if humanitarian else "blue"
    red = north("red", "r1")
    eng = Engine(Policy())
    eng.add(red)
    decl = east(owner, "d1")
    now = T0 - 60 * H
    c = submit(decl, eng.conflicts_of(decl), PARTIES, now)
    for verb, actor, dt, reason in steps:
        who = owner if actor == "owner" else actor
        now += dt
        before = c
        try:
            if verb in ("ack", "object"):
                kind = "acknowledge" if verb == "ack" else "object"
                c = respond(c, who, kind, reason, now)
            elif verb == "tick":
                c = expire_due(c, now)
            elif verb == "amend":
                lat = 36.0 if len(c.history) % 2 else 36.5
                new = east(owner, "d1", lat=lat)
                old, c = amend(c, new, eng.conflicts_of(new), PARTIES, now)
                assert old.history[: len(before.history)] == before.history
                check(old)
            else:
                action = {"activate": activate, "complete": complete, "withdraw": withdraw}
                c = action[verb](c, who, now, reason)
        except DeconflictError:
            assert c is before
        check(c)
        if c.version == before.version:
            assert c.history[: len(before.history)] == before.history  # append-only
            if before.state in (S.COMPLETED, S.WITHDRAWN, S.EXPIRED):
                assert c.history == before.history


def test_answering_about_an_open_ended_site_does_not_fail_on_its_endless_validity() -> None:
    """Regression: expire_due wrote the pending-until moment (inf for a site valid for
    ever) as a date and raised OverflowError when a notified party answered."""
    from shapely.geometry import Point

    from deconflict.model import Site

    clinic = Site("clinic", "aid", Point(36.05, 36.0).buffer(0.01))
    c = clear_of(clinic, north("red", "r1"))  # type: ignore[arg-type]
    assert c.state is S.NOTIFIED and math.isinf(c.pending_until_s)
    c = respond(c, "red", "acknowledge", "", T0 - 70 * H)
    c = expire_due(c, T0 + 100 * H)
    assert c.state in (S.NOTIFIED, S.CLEARED)
