"""The per-node delivery state machine (pure): forward-only, terminal states sticky, expiry reasons."""

from __future__ import annotations

import pytest

from hq_server.services.delivery import (
    OUTDATED_COPY,
    apply_ack,
    needs_resend,
    occurrence_advances,
    occurrence_closed_reason,
    on_cancel,
    on_expiry,
    recurring_ack,
    recurring_expiry,
)
from hq_server.services.delivery import DeliveryState as S
from loaxa_contract.models import AckStage as A


def run(*stages: A) -> S:
    state = S.PENDING
    for stage in stages:
        state = apply_ack(state, stage).state
    return state


def test_happy_path_reaches_played():
    assert run(A.RECEIVED, A.RENDERED, A.SCHEDULED, A.PLAYING, A.PLAYED) == S.PLAYED


def test_out_of_order_and_duplicate_acks_never_go_backwards():
    assert run(A.PLAYING, A.RECEIVED, A.SCHEDULED) == S.PLAYING
    assert run(A.RECEIVED, A.RECEIVED) == S.RECEIVED
    assert not apply_ack(S.SCHEDULED, A.RECEIVED).changed


@pytest.mark.parametrize("terminal", [S.PLAYED, S.FAILED, S.EXPIRED, S.OFFLINE, S.CANCELLED])
@pytest.mark.parametrize("stage", list(A))
def test_terminal_states_are_sticky(terminal, stage):
    assert apply_ack(terminal, stage) == apply_ack(terminal, stage)
    assert apply_ack(terminal, stage).state == terminal
    assert on_expiry(terminal, node_online=False).state == terminal
    assert on_cancel(terminal).state == terminal


def test_rejection_is_a_failure_with_reason():
    t = apply_ack(S.PENDING, A.REJECTED, "bad_signature")
    assert t.state == S.FAILED and t.reason == "rejected: bad_signature"


def test_pong_says_nothing_about_a_bulletin():
    assert not apply_ack(S.PENDING, A.PONG).changed


def test_only_a_played_ack_makes_played():
    for stage in A:
        if stage != A.PLAYED:
            assert apply_ack(S.PLAYING, stage).state != S.PLAYED


def test_expiry_distinguishes_offline_from_silent_and_stuck():
    assert on_expiry(S.PENDING, node_online=False).state == S.OFFLINE
    assert on_expiry(S.PENDING, node_online=True).state == S.EXPIRED
    stuck = on_expiry(S.PLAYING, node_online=True)
    assert stuck.state == S.EXPIRED and "playing" in (stuck.reason or "")


def test_resend_only_before_scheduling():
    assert needs_resend(S.PENDING) and needs_resend(S.RECEIVED)
    assert not any(needs_resend(s) for s in (S.SCHEDULED, S.PLAYING, S.PLAYED, S.FAILED, S.OFFLINE))


def test_recurring_occurrences_do_not_finish_the_delivery():
    step, occ = recurring_ack(S.SCHEDULED, A.PLAYED)
    assert (step.state, step.changed, occ) == (S.SCHEDULED, False, "played")
    step, occ = recurring_ack(S.RECEIVED, A.PLAYING)
    assert (step.state, occ) == (S.SCHEDULED, "playing")
    step, occ = recurring_ack(S.SCHEDULED, A.EXPIRED, "missed_schedule")
    assert (step.state, occ) == (S.SCHEDULED, "missed")
    step, occ = recurring_ack(S.SCHEDULED, A.EXPIRED, "no_future_occurrence")
    assert (step.state, occ) == (S.EXPIRED, None)
    assert occurrence_advances(None, "playing") and occurrence_advances("playing", "played")
    assert not occurrence_advances("played", "playing") and not occurrence_advances("played", "played")
    assert recurring_expiry(S.SCHEDULED, True, 3).state == S.PLAYED
    assert recurring_expiry(S.SCHEDULED, True, 0).state == S.EXPIRED
    assert recurring_expiry(S.PENDING, False, 0).state == S.OFFLINE


def test_an_interruption_stays_in_the_record_until_replayed_or_dropped():
    t = apply_ack(S.PLAYING, A.INTERRUPTED, "node_restarted")
    assert (t.state, t.reason, t.changed) == (S.INTERRUPTED, "interrupted", True)
    assert not apply_ack(S.INTERRUPTED, A.PLAYING).changed  # the replay starts: still shown interrupted
    replayed = apply_ack(S.INTERRUPTED, A.PLAYED)
    assert (replayed.state, replayed.reason) == (S.PLAYED, "replayed after an interruption")
    late = apply_ack(S.INTERRUPTED, A.EXPIRED, "interrupted_late")
    assert (late.state, late.reason) == (S.EXPIRED, "interrupted_late")
    again = apply_ack(S.INTERRUPTED, A.FAILED, "interrupted_again")
    assert (again.state, again.reason) == (S.FAILED, "interrupted_again")
    assert not needs_resend(S.INTERRUPTED) and not S.INTERRUPTED.terminal
    assert on_expiry(S.INTERRUPTED, True).state == S.EXPIRED  # never counted as played


def test_an_interrupted_occurrence_is_replayed_or_missed_and_the_series_goes_on():
    t, occ = recurring_ack(S.SCHEDULED, A.INTERRUPTED, "node_restarted")
    assert (t.state, occ) == (S.SCHEDULED, "interrupted")
    for reason in ("interrupted_late", "interrupted_expired", "interrupted_again", "missed_schedule"):
        stage = A.FAILED if reason == "interrupted_again" else A.EXPIRED
        t, occ = recurring_ack(S.SCHEDULED, stage, reason)
        assert (t.state, t.changed, occ) == (S.SCHEDULED, False, "missed")
    assert occurrence_advances("playing", "interrupted") and occurrence_advances("interrupted", "played")
    assert occurrence_advances("interrupted", "missed") and not occurrence_advances("played", "interrupted")


def test_one_occurrence_that_fails_to_play_does_not_end_the_series_on_that_node():
    t, occ = recurring_ack(S.SCHEDULED, A.FAILED, "playback_error", names_occurrence=True)
    assert (t.state, t.changed, occ) == (S.SCHEDULED, False, "missed")
    t, occ = recurring_ack(S.SCHEDULED, A.EXPIRED, "expired_in_queue", names_occurrence=True)
    assert (t.state, t.changed, occ) == (S.SCHEDULED, False, "missed")
    t, occ = recurring_ack(S.RECEIVED, A.FAILED, "render_failed")  # the series as a whole: no occurrence named
    assert (t.state, occ) == (S.FAILED, None)
    t, occ = recurring_ack(S.SCHEDULED, A.CANCELLED, "cancelled_by_hq", names_occurrence=True)
    assert (t.state, occ) == (S.CANCELLED, None)  # a cancel ends the series even mid-occurrence


def test_an_occurrence_hq_closed_as_missed_still_becomes_played_when_the_node_says_so():
    assert occurrence_advances("missed", "played")  # the node's played ack arrived after the series ended
    assert not occurrence_advances("played", "missed") and not occurrence_advances("missed", "missed")
    assert not occurrence_advances("missed", "playing") and not occurrence_advances("missed", "interrupted")
    assert occurrence_closed_reason("cancelled by HQ") == "series ended while it was open: cancelled by HQ"
    assert len(occurrence_closed_reason("x" * 500)) == 200


def test_a_node_dropping_an_outdated_copy_of_a_renewed_series_does_not_end_its_delivery():
    t, occ = recurring_ack(S.SCHEDULED, A.EXPIRED, "expired_before_play", outdated_copy=True)
    assert (t.state, t.changed, t.reason, occ) == (S.SCHEDULED, True, OUTDATED_COPY, None)
    t, _ = recurring_ack(S.SCHEDULED, A.EXPIRED, "expired_before_play")  # HQ's current copy: the series ended
    assert t.state == S.EXPIRED
    t, _ = recurring_ack(S.SCHEDULED, A.FAILED, "render_failed", outdated_copy=True)  # only an expiry
    assert t.state == S.FAILED
    t, _ = recurring_ack(S.CANCELLED, A.EXPIRED, "expired_before_play", outdated_copy=True)
    assert (t.state, t.changed) == (S.CANCELLED, False)
