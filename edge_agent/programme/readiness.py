"""When a bulletin's audio is made ready, whether a start can be on time, how late it was (pure).

A synchronised start is only as good as the work left on its critical path. Everything that can
fail or take long — downloading HQ's rendering over a 4G link, synthesising, decoding, loudness
processing — is done when the bulletin is admitted (right after ``received``), and the final WAV is
kept on disk (:mod:`edge_agent.programme.ready_audio`), so that at the start instant only the
amplifier (warmed beforehand) and the sink are left. Downloads then spread over the time between
HQ's dispatch and ``play_at`` instead of all landing in the last seconds.

A node that could not be ready in time (HQ unreachable, a slow board, a command that arrived late)
still plays: it renders then, starts late and says so (``playing`` and ``played`` details carry the
lateness), or reports ``expired`` with a reason — never a silent drop.

No I/O, no clock: the player passes ``now``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum

RENDER_AHEAD = timedelta(hours=24)
"""How far ahead of its start a timed bulletin's WAV is rendered at admission. Bounds the disk a node
spends on WAVs waiting for their time (a day's schedule); later ones are rendered when their job fires,
``lead_s`` before the start, as everything was before."""

ON_TIME_TOLERANCE = timedelta(milliseconds=50)
"""A start this close to its instant is reported as on time (a node's scheduling jitter is a few ms)."""


def render_ahead(*, play_at: datetime | None, recurring: bool, now: datetime,
                 horizon: timedelta = RENDER_AHEAD) -> bool:
    """Whether the final WAV is rendered at admission (True) or when the item is taken to play.

    Timed plays need it: a ``play_at`` within ``horizon`` and every series (one WAV serves each of its
    occurrences while the volume does not change). An untimed bulletin has no instant to keep; it is
    rendered when it is taken, which for an emergency is right after admission anyway.
    """
    if recurring:
        return True
    return play_at is not None and play_at - now <= horizon


class Readiness(Enum):
    READY = "ready"
    """The WAV is on disk and there is time for the records and the warm-up: an on-time start."""
    READY_LATE = "ready_late"
    """The WAV is on disk but the start's budget has passed already: it starts late."""
    RENDER_FIRST = "render_first"
    """No usable WAV (not rendered ahead, or the volume changed since): render now, then start."""


@dataclass(frozen=True)
class StartCheck:
    readiness: Readiness
    late_by: timedelta
    """How far past the latest moment for an on-time start ``now`` already is (zero if not past)."""


def check_start(*, now: datetime, start_at: datetime | None, ready: bool, budget: timedelta) -> StartCheck:
    """Can the play taken now start on time? ``budget``: the time the start needs before its instant
    (durable records, then the amplifier's warm-up). An untimed play (``start_at`` None) is never late."""
    if not ready:
        late = max(timedelta(0), now - (start_at - budget)) if start_at is not None else timedelta(0)
        return StartCheck(Readiness.RENDER_FIRST, late)
    if start_at is None or now <= start_at - budget:
        return StartCheck(Readiness.READY, timedelta(0))
    return StartCheck(Readiness.READY_LATE, now - (start_at - budget))


def lateness(start_at: datetime | None, started: datetime) -> timedelta | None:
    """How long after its instant a timed play started (negative: early); None for an untimed play."""
    return None if start_at is None else started - start_at


def describe_start(start_at: datetime | None, started: datetime, *, rendered_late: bool = False) -> str | None:
    """The start as the ``played`` ack reports it: lateness in ms, and why when the audio was not ready."""
    late = lateness(start_at, started)
    if late is None:
        return None
    ms = round(late.total_seconds() * 1000)
    if late <= ON_TIME_TOLERANCE:
        return f"started on time ({ms:+d} ms)"
    why = "; audio was not ready ahead and was rendered at the start" if rendered_late else ""
    return f"started {ms} ms late{why}"


def ready_name(bulletin_id: str, command_id: str, volume: int) -> str:
    """File name of a rendered WAV: it is valid only for this command and this volume (a ``set_volume``
    or a renewed command makes the player render again). ``~`` is not in the contract's id alphabet,
    so one bulletin's files never match another's prefix."""
    return f"{bulletin_id}~{command_id}~v{volume}.wav"


def ready_prefix(bulletin_id: str) -> str:
    return f"{bulletin_id}~"
