"""Crash recovery policy and one-owner queueing, as pure functions (no clock, no I/O)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from edge_agent.programme.queue import PlayQueue, QueueItem
from edge_agent.programme.recovery import Interruption, decide, decide_due
from edge_agent.programme.windows import Programme

T0 = datetime(2026, 11, 28, 6, 0, tzinfo=UTC)
GRACE = timedelta(minutes=5)
NORMAL, PRIORITY, EMERGENCY = 0, 1, 2


def cut(rank=NORMAL, timed=False, started=T0, expires=T0 + timedelta(hours=1), replays=0) -> Interruption:
    return Interruption(rank, timed, started, expires, replays)


def test_a_bulletin_is_replayed_at_most_once():
    again = decide(cut(rank=EMERGENCY, replays=1), T0 + timedelta(seconds=30), GRACE)
    assert (again.replay, again.stage, again.reason) == (False, "failed", "interrupted_again")


def test_expiry_is_final_even_for_an_emergency():
    d = decide(cut(rank=EMERGENCY, expires=T0 + timedelta(minutes=1)), T0 + timedelta(minutes=2), GRACE)
    assert (d.replay, d.stage, d.reason) == (False, "expired", "interrupted_expired")


def test_timed_plays_are_replayed_only_within_the_grace_emergencies_always():
    soon, late = T0 + timedelta(minutes=2), T0 + timedelta(minutes=20)
    assert decide(cut(timed=True), soon, GRACE).replay
    d = decide(cut(timed=True), late, GRACE)
    assert (d.replay, d.stage, d.reason) == (False, "expired", "interrupted_late")
    assert decide(cut(rank=EMERGENCY, timed=True), late, GRACE).replay


def test_untimed_bulletins_are_replayed_while_they_have_not_expired():
    assert decide(cut(rank=PRIORITY), T0 + timedelta(minutes=50), GRACE).replay
    assert decide(cut(), T0 + timedelta(minutes=50), GRACE).replay


def test_a_play_that_fell_due_while_down_is_queued_or_missed():
    due = T0
    assert decide_due(rank=NORMAL, scheduled_at=due, expires_at=T0 + timedelta(days=1),
                      now=T0 + timedelta(minutes=1), grace=GRACE).replay
    missed = decide_due(rank=NORMAL, scheduled_at=due, expires_at=T0 + timedelta(days=1),
                        now=T0 + timedelta(hours=1), grace=GRACE)
    assert (missed.replay, missed.reason) == (False, "missed_schedule")
    assert decide_due(rank=EMERGENCY, scheduled_at=due, expires_at=T0 + timedelta(days=1),
                      now=T0 + timedelta(hours=1), grace=GRACE).replay
    gone = decide_due(rank=EMERGENCY, scheduled_at=None, expires_at=T0, now=T0 + timedelta(seconds=1), grace=GRACE)
    assert (gone.replay, gone.reason) == (False, "expired_in_queue")


def item(bid: str, start: datetime | None, occurrence: str = "", seq: int = 1) -> QueueItem:
    return QueueItem(bid, f"c-{bid}", NORMAL, seq, T0 + timedelta(hours=1), start, start is not None, occurrence)


def test_the_same_play_is_never_queued_twice():
    q = PlayQueue(lead=timedelta(seconds=3))
    assert q.push(item("b", T0))
    assert not q.push(item("b", T0))  # a late job and the restore: one owner
    assert q.push(item("r", T0, occurrence=T0.isoformat()))
    assert q.push(item("r", T0 + timedelta(days=1), occurrence=(T0 + timedelta(days=1)).isoformat()))
    assert len(q) == 3


def test_an_occurrence_does_not_wait_behind_a_bulletin_timed_later():
    q = PlayQueue(lead=timedelta(seconds=3))
    q.push(item("later", T0 + timedelta(seconds=2), seq=1))  # taken "lead" early, but due after
    q.push(item("series", T0, occurrence=T0.isoformat(), seq=9))
    assert q.next_ready(T0, Programme()).bulletin_id == "series"
