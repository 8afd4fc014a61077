"""Crash recovery policy: what happens to a bulletin whose playback a restart cut. Pure, clock-free.

A node loses power (or is killed, or crashes) while a bulletin plays. At the next start it knows
which bulletin was playing (the run record written before the audio started) but not how much of it
was heard. The decision — replay it from the start once, or drop it — is made here, by priority and
by how much of its window is left:

1. **At most one replay.** A bulletin interrupted again while being replayed is dropped
   (``failed``, ``interrupted_again``): a bulletin that crashes the node (a bad file, a decoder bug)
   must not crash it forever, and a village should not hear the same half-notice three times.
2. **Expiry is final.** Past its ``expires_at`` it is dropped (``expired``, ``interrupted_expired``).
3. **Emergency** (khẩn cấp): replayed at once, whatever its timing — even in quiet hours.
4. **A timed play** (``play_at``, or an occurrence of a series) was announced for a time; it is
   replayed only while the restart comes within the misfire grace of the moment it started (the
   same tolerance as a late job); later the moment has passed (``expired``, ``interrupted_late``).
   A series goes on with its next occurrence either way.
5. **Any other bulletin** (untimed ``normal``/``priority``) is replayed: it waits for a programme
   window as usual, and its expiry still bounds it.

Whatever is decided, the node first acks ``interrupted`` (reason ``node_restarted``, with the
instant the play had started), then ``playing``/``played`` for the replay, or the drop's
``expired``/``failed`` with its reason — so HQ's record shows the interruption and what followed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

EMERGENCY = 2
INTERRUPTED_REASON = "node_restarted"
"""Reason of the ``interrupted`` ack: a restart (power cut, kill, crash or stop) cut the playback."""
DROP_REASONS = frozenset({"interrupted_again", "interrupted_expired", "interrupted_late"})


@dataclass(frozen=True)
class Interruption:
    """What the node knows at start-up about a play a restart cut."""

    rank: int  # Priority.rank: 0 normal, 1 priority, 2 emergency
    timed: bool  # play_at or a series occurrence: announced for a moment
    started_at: datetime  # when the cut playback had started
    expires_at: datetime
    replays: int  # replays already made of this play after earlier interruptions


@dataclass(frozen=True)
class Decision:
    replay: bool
    stage: str | None  # for a drop: the terminal ack stage, "expired" or "failed"
    reason: str | None
    detail: str


def decide(cut: Interruption, now: datetime, grace: timedelta) -> Decision:
    """Replay once or drop; see the module docstring for the rules and their order."""
    if cut.replays >= 1:
        return Decision(False, "failed", "interrupted_again",
                        "interrupted again while being replayed after an earlier interruption; not replayed twice")
    if cut.expires_at <= now:
        return Decision(False, "expired", "interrupted_expired",
                        f"interrupted, and expired at {cut.expires_at.isoformat()} before the node was back")
    if cut.rank >= EMERGENCY:
        return Decision(True, None, None, "emergency interrupted by a restart: replayed from the start")
    if cut.timed and now - cut.started_at > grace:
        late = int((now - cut.started_at).total_seconds())
        return Decision(False, "expired", "interrupted_late",
                        f"interrupted; the node was back {late}s after its time, beyond the "
                        f"{int(grace.total_seconds())}s grace: not replayed late")
    return Decision(True, None, None, "interrupted by a restart: replayed from the start")


def decide_due(*, rank: int, scheduled_at: datetime | None, expires_at: datetime, now: datetime,
               grace: timedelta) -> Decision:
    """A play that had fallen due (an occurrence, or a replay) but not started when the node went down.

    Queued again unless it expired, or it was announced for a moment (``scheduled_at``) that passed
    by more than the grace — the same rule as a job that fires late; emergencies only expire.
    """
    if expires_at <= now:
        return Decision(False, "expired", "expired_in_queue",
                        f"expired at {expires_at.isoformat()} while the node was down")
    if rank < EMERGENCY and scheduled_at is not None and now - scheduled_at > grace:
        late = int((now - scheduled_at).total_seconds())
        return Decision(False, "expired", "missed_schedule",
                        f"due at {scheduled_at.isoformat()}; the node was back {late}s later, beyond the "
                        f"{int(grace.total_seconds())}s grace")
    return Decision(True, None, None, "fell due while the node was down: queued again")
