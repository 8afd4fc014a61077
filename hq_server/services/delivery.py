"""Per-node delivery state of a bulletin: a pure state machine fed by acks and by the clock.

pending → received → scheduled → playing → played, or failed / expired / offline / cancelled.

Why a separate pure module? "Never report success for a node that did not ack ``played``" is the
one promise HQ makes upward; keeping every transition here, without I/O, lets it be tested
exhaustively. Acks can arrive out of order or twice (QoS 1, historical acks flushed after an
outage), so transitions only move forward, and a terminal state never changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from loaxa_contract.models import AckStage


class DeliveryState(StrEnum):
    PENDING = "pending"
    RECEIVED = "received"
    SCHEDULED = "scheduled"
    PLAYING = "playing"
    INTERRUPTED = "interrupted"  # a restart of the node cut the playback; replayed or dropped next
    PLAYED = "played"
    FAILED = "failed"
    EXPIRED = "expired"
    OFFLINE = "offline"
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL

    @property
    def rank(self) -> int:
        return _RANK[self]


TERMINAL = frozenset({DeliveryState.PLAYED, DeliveryState.FAILED, DeliveryState.EXPIRED,
                      DeliveryState.OFFLINE, DeliveryState.CANCELLED})
_RANK = {DeliveryState.PENDING: 0, DeliveryState.RECEIVED: 1, DeliveryState.SCHEDULED: 2,
         DeliveryState.PLAYING: 3, DeliveryState.INTERRUPTED: 4, **dict.fromkeys(TERMINAL, 5)}

_FROM_ACK: dict[AckStage, DeliveryState] = {
    AckStage.RECEIVED: DeliveryState.RECEIVED,
    AckStage.RENDERED: DeliveryState.RECEIVED,  # rendering is internal to "received" for the report
    AckStage.SCHEDULED: DeliveryState.SCHEDULED,
    AckStage.PLAYING: DeliveryState.PLAYING,
    AckStage.PLAYED: DeliveryState.PLAYED,
    AckStage.INTERRUPTED: DeliveryState.INTERRUPTED,
    AckStage.REJECTED: DeliveryState.FAILED,
    AckStage.FAILED: DeliveryState.FAILED,
    AckStage.EXPIRED: DeliveryState.EXPIRED,
    AckStage.CANCELLED: DeliveryState.CANCELLED,
}


@dataclass(frozen=True)
class Transition:
    state: DeliveryState
    reason: str | None
    changed: bool


INTERRUPTED = "interrupted"
"""Reason recorded while a delivery is ``interrupted`` (the node's restart cut the playback)."""
REPLAYED = "replayed after an interruption"
"""Reason kept with ``played`` when the node replayed the bulletin after an interruption."""
INTERRUPTION_DROPS = frozenset({"interrupted_again", "interrupted_expired", "interrupted_late"})
"""The node's reasons for not replaying an interrupted bulletin (see the node's recovery policy)."""


def apply_ack(current: DeliveryState, stage: AckStage, reason: str | None = None) -> Transition:
    """The state after an ack of ``stage``; unchanged when the ack is stale, duplicate or irrelevant.

    An interruption is part of the record: ``playing → interrupted`` (the node restarted mid-play),
    then the replay's ``playing`` changes nothing (it ranks below) and ``played`` keeps the reason
    "replayed after an interruption"; a bulletin the node did not replay ends ``expired``/``failed``
    with the node's reason code (``interrupted_late`` …).
    """
    target = _FROM_ACK.get(stage)
    if target is None or current.terminal or target.rank <= current.rank:
        return Transition(current, None, False)
    if stage == AckStage.REJECTED:
        reason = f"rejected: {reason or 'unknown'}"
    elif stage == AckStage.INTERRUPTED:
        reason = INTERRUPTED
    elif stage == AckStage.PLAYED and current == DeliveryState.INTERRUPTED:
        reason = REPLAYED
    return Transition(target, reason, True)


def on_expiry(current: DeliveryState, node_online: bool) -> Transition:
    """At the bulletin's expiry, a node that has not finished is closed with a reason.

    A node offline (or never seen) until expiry is ``offline``; one that was reachable but did not
    finish is ``expired``. Neither is ever counted as played.
    """
    if current.terminal:
        return Transition(current, None, False)
    if current == DeliveryState.PENDING and not node_online:
        return Transition(DeliveryState.OFFLINE, "node offline until expiry", True)
    if current == DeliveryState.PENDING:
        return Transition(DeliveryState.EXPIRED, "no acknowledgement before expiry", True)
    return Transition(DeliveryState.EXPIRED, f"stopped at '{current.value}' before expiry", True)


def on_cancel(current: DeliveryState) -> Transition:
    """HQ cancelled the bulletin: nodes that had not finished are cancelled (their ack may confirm it)."""
    if current.terminal:
        return Transition(current, None, False)
    return Transition(DeliveryState.CANCELLED, "cancelled by HQ", True)


def needs_resend(current: DeliveryState) -> bool:
    """A node coming back online gets the bulletin again unless it has at least scheduled it.

    ``received`` is re-sent too: a node that rebooted between receiving and scheduling may have lost
    it, and the node plays each bulletin id once, so a duplicate is harmless.
    """
    return current in (DeliveryState.PENDING, DeliveryState.RECEIVED)


# ---------------------------------------------------------------- recurring bulletins
#
# A recurring bulletin is one delivery per node (accepted → scheduled, held until the bulletin expires
# after its last occurrence) plus one *occurrence* per (node, local date) that the node plays.

OCCURRENCE_STAGES = {AckStage.PLAYING: "playing", AckStage.INTERRUPTED: "interrupted", AckStage.PLAYED: "played"}
_OCC_RANK = {"playing": 0, "interrupted": 1, "missed": 2, "played": 3}
OCCURRENCE_OPEN = ("playing", "interrupted")
"""Occurrence states the node has more to say about — unless the series' delivery ends first."""
OCCURRENCE_MISSED = frozenset({"missed_schedule", *INTERRUPTION_DROPS})
"""Reasons of an ``expired``/``failed`` ack that concern one occurrence, not the whole series."""


OUTDATED_COPY = "the node's copy of the series expired before HQ's renewal reached it; the renewal is sent again"
"""Reason kept on a series' delivery when the node dropped an outdated copy (see :func:`recurring_ack`)."""


def recurring_ack(current: DeliveryState, stage: AckStage, reason: str | None = None,
                  names_occurrence: bool = False, outdated_copy: bool = False) -> tuple[Transition, str | None]:
    """(delivery transition, occurrence state or None) for an ack of a recurring bulletin.

    ``playing``/``interrupted``/``played`` are about one occurrence: the delivery stays ``scheduled``
    (more to come). An ``expired``/``failed`` ack is about one occurrence when the node names it
    (``names_occurrence``: it missed its grace period, failed to play — a sound card error one morning —
    or was not replayed after an interruption) or carries an occurrence reason: that occurrence is
    ``missed`` and the delivery goes on, because the node keeps the series (ending the delivery here made
    HQ cancel the whole programme on the node at its next reconnect). A series-level ``expired`` ack of an
    ``outdated_copy`` (a command HQ has renewed since: a node away longer than the command's lifetime
    restarts and drops its copy) does not end the delivery either: the series goes on at HQ, and the
    renewal is what the node needs. Everything else (rejected, failed or expired for the series as a
    whole, cancelled) ends the delivery as for a one-off bulletin.
    """
    if stage in OCCURRENCE_STAGES:
        return apply_ack(current, AckStage.SCHEDULED), OCCURRENCE_STAGES[stage]
    if stage in (AckStage.EXPIRED, AckStage.FAILED) and (names_occurrence or reason in OCCURRENCE_MISSED):
        return Transition(current, None, False), "missed"
    if stage == AckStage.EXPIRED and outdated_copy and not current.terminal:
        return Transition(current, OUTDATED_COPY, True), None
    return apply_ack(current, stage, reason), None


def occurrence_advances(current: str | None, new: str) -> bool:
    """An occurrence only moves forward: playing → interrupted → missed → played; a duplicate ack changes
    nothing. ``played`` outranks ``missed`` because HQ may close an occurrence as missed on its own (the
    series ended while it was open, :func:`occurrence_closed_reason`) before the node's ``played`` ack
    for it arrives — what the node played is the truth."""
    return current is None or (_OCC_RANK[new] > _OCC_RANK[current])


def occurrence_closed_reason(delivery_reason: str | None) -> str:
    """Why HQ closed an open occurrence as ``missed``: the series' delivery to its node ended (cancelled,
    expired, failed) while the occurrence was playing or interrupted, so no further ack will settle it —
    left open, it would claim to be playing for ever."""
    return f"series ended while it was open: {delivery_reason or 'delivery closed'}"[:200]


def recurring_expiry(current: DeliveryState, node_online: bool, played: int) -> Transition:
    """At expiry (after the last occurrence): ``played`` if the node played at least one occurrence."""
    if current.terminal:
        return Transition(current, None, False)
    if played:
        return Transition(DeliveryState.PLAYED, f"recurrence ended: {played} occurrence(s) played", True)
    return on_expiry(current, node_online)


# ---------------------------------------------------------------- the bulletin's own outcome


@dataclass(frozen=True)
class Outcome:
    state: str  # completed, expired, failed
    reason: str | None


def bulletin_outcome(states: list[DeliveryState]) -> Outcome:
    """The state of a finished bulletin from its (terminal) deliveries.

    ``completed`` only when at least one node played it (a recurring delivery is ``played`` when at
    least one occurrence played, see :func:`recurring_expiry`); a bulletin no node played is never
    reported completed: ``failed`` when every node refused or failed it, else ``expired``, with the
    counts as the reason.
    """
    counts: dict[str, int] = {}
    for s in states:
        counts[s.value] = counts.get(s.value, 0) + 1
    summary = ", ".join(f"{n} {state}" for state, n in sorted(counts.items()))
    if not states:
        return Outcome("expired", "không loa nào nhận bản tin trước khi hết hạn (no node received it before expiry)")
    played = counts.get(DeliveryState.PLAYED.value, 0)
    if played:
        return Outcome("completed", None if played == len(states) else f"{played}/{len(states)} played ({summary})")
    if all(s == DeliveryState.FAILED for s in states):
        return Outcome("failed", f"không loa nào phát được (no node played it): {summary}")
    return Outcome("expired", f"không loa nào phát (no node played it): {summary}")
