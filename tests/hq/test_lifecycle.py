"""The bulletin lifecycle: every (state, event) pair, exhaustively (pure)."""

from __future__ import annotations

import pytest

from hq_server.services.lifecycle import (
    CANCELLABLE,
    BulletinEvent,
    BulletinState,
    IllegalTransition,
    deletable,
    initial_state,
    may,
    transition,
)

S, E = BulletinState, BulletinEvent

# (state, event, kwargs) → expected state; every pair not listed must raise IllegalTransition
ALLOWED = {
    (S.AWAITING_APPROVAL, E.APPROVE): S.SCHEDULED,
    (S.AWAITING_APPROVAL, E.EDIT): S.AWAITING_APPROVAL,
    (S.SCHEDULED, E.EDIT): S.SCHEDULED,
    (S.SCHEDULED, E.DISPATCH): S.SENDING,
    (S.SENDING, E.PUBLISHED): S.ACTIVE,
    (S.SENDING, E.PUBLISH_FAILED): S.SENDING,
    **{(s, E.CANCEL): S.CANCELLED for s in (S.AWAITING_APPROVAL, S.SCHEDULED, S.SENDING, S.ACTIVE)},
    **{(s, E.EXPIRE): S.EXPIRED for s in (S.AWAITING_APPROVAL, S.SCHEDULED, S.SENDING)},
    (S.ACTIVE, E.EXPIRE): S.COMPLETED,  # with outcome=COMPLETED below
    (S.ACTIVE, E.ALL_CLOSED): S.COMPLETED,
}


@pytest.mark.parametrize("state", list(S))
@pytest.mark.parametrize("event", list(E))
def test_every_state_and_event(state, event):
    kw = {"outcome": S.COMPLETED} if event in (E.EXPIRE, E.ALL_CLOSED) else {}
    expected = ALLOWED.get((state, event))
    if expected is None:
        with pytest.raises(IllegalTransition) as err:
            transition(state, event, **kw)
        assert state.value in str(err.value)  # the message names where it stood
        assert not may(state, event, **kw)
    else:
        step = transition(state, event, **kw)
        assert step.state == expected and step.changed == (expected != state)
        assert may(state, event, **kw)


def test_finished_states_never_move():
    for state in (S.COMPLETED, S.EXPIRED, S.FAILED, S.CANCELLED):
        assert state.finished and state.value not in CANCELLABLE
        for event in E:
            assert not may(state, event, outcome=S.COMPLETED)


def test_an_active_bulletin_ends_with_the_outcome_of_its_deliveries():
    for outcome in (S.COMPLETED, S.EXPIRED, S.FAILED):
        assert transition(S.ACTIVE, E.ALL_CLOSED, outcome=outcome).state == outcome
        assert transition(S.ACTIVE, E.EXPIRE, outcome=outcome).state == outcome
    with pytest.raises(ValueError):
        transition(S.ACTIVE, E.ALL_CLOSED)  # no outcome: a bug in the caller, not a silent "completed"
    with pytest.raises(ValueError):
        transition(S.ACTIVE, E.EXPIRE, outcome=S.CANCELLED)


def test_edit_of_an_emergency_under_the_two_person_rule_needs_approval_again():
    step = transition(S.SCHEDULED, E.EDIT, needs_second_approval=True)
    assert step.state == S.AWAITING_APPROVAL and step.changed
    assert initial_state(True) == S.AWAITING_APPROVAL and initial_state(False) == S.SCHEDULED


def test_only_a_bulletin_never_sent_may_be_deleted():
    assert deletable(S.SCHEDULED, ever_sent=False) and deletable(S.EXPIRED, ever_sent=False)
    assert not deletable(S.EXPIRED, ever_sent=True)
    assert not any(deletable(s, ever_sent=False) for s in (S.SENDING, S.ACTIVE, S.COMPLETED, S.CANCELLED))
