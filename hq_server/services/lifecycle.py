"""A bulletin's own lifecycle: its states and the one function that moves between them (pure, no I/O).

::

    awaiting_approval ──approve──▶ scheduled ──dispatch──▶ sending ──published──▶ active ──▶ completed
          │  ▲                         │  ▲                   │                      │        expired
          │  └────edit (emergency)─────┘  └──publish failed──┘                      │        failed
          └───────────── cancel / expire (any state before active ends) ─────────────┘

Why a table and one function? The same rules were spread over the HTTP routes, the orchestrator and the
sweeper as string comparisons ("cancel unless completed/expired/failed", "edit only scheduled"), and
three copies drift. Here every caller asks :func:`transition`; an event that does not apply in a state
raises :class:`IllegalTransition` with a reason the API can show. Per-node delivery states (what each
loudspeaker did) are a separate machine, :mod:`hq_server.services.delivery`; how a bulletin *ends* from
its deliveries is :func:`hq_server.services.delivery.bulletin_outcome`, fed in here as ``outcome``.

``sending`` exists because a broadcast is published after its commands are committed (a node's ack comes
back within milliseconds and must find them): a process that stops between the two leaves the bulletin
``sending``, and the next dispatcher publishes what was not yet published instead of starting over.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class BulletinState(StrEnum):
    AWAITING_APPROVAL = "awaiting_approval"
    """An emergency bulletin waiting for a second person (two-person rule)."""
    SCHEDULED = "scheduled"
    """Accepted; sent when due (at once, or at ``send_at`` less the lead time)."""
    SENDING = "sending"
    """Commands committed, being published to the broker."""
    ACTIVE = "active"
    """Published; loudspeakers are receiving and playing it."""
    COMPLETED = "completed"
    EXPIRED = "expired"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in FINISHED

    @property
    def editable(self) -> bool:
        """Content, targets and times may still change: nothing was signed yet."""
        return self in (BulletinState.AWAITING_APPROVAL, BulletinState.SCHEDULED)

    @property
    def published(self) -> bool:
        """Commands may have reached loudspeakers (a cancel must be published too)."""
        return self in (BulletinState.SENDING, BulletinState.ACTIVE)


FINISHED = frozenset({BulletinState.COMPLETED, BulletinState.EXPIRED, BulletinState.FAILED, BulletinState.CANCELLED})
OUTCOMES = frozenset({BulletinState.COMPLETED, BulletinState.EXPIRED, BulletinState.FAILED})


class BulletinEvent(StrEnum):
    APPROVE = "approve"
    EDIT = "edit"
    DISPATCH = "dispatch"
    PUBLISHED = "published"
    PUBLISH_FAILED = "publish_failed"
    CANCEL = "cancel"
    EXPIRE = "expire"
    """Its ``expires_at`` passed (with an ``outcome`` once it was active)."""
    ALL_CLOSED = "all_closed"
    """Every delivery reached a final state (with the ``outcome``)."""


class IllegalTransition(ValueError):
    """``event`` does not apply to a bulletin in ``state``; the message says why in plain words."""

    def __init__(self, state: BulletinState, event: BulletinEvent) -> None:
        self.state, self.event = state, event
        super().__init__(_WHY.get(event, "không thực hiện được ở trạng thái này (not allowed in this state)")
                         + f" [{state.value}]")


_WHY = {
    BulletinEvent.APPROVE: "Bản tin không chờ duyệt (not awaiting approval)",
    BulletinEvent.EDIT: "Bản tin đã gửi đi, không sửa được (cannot edit once sent)",
    BulletinEvent.CANCEL: "Bản tin đã kết thúc (bulletin already finished)",
}


@dataclass(frozen=True)
class Step:
    state: BulletinState
    changed: bool


def initial_state(needs_second_approval: bool) -> BulletinState:
    """A new bulletin waits for its second approver (emergency, two-person rule) or is scheduled."""
    return BulletinState.AWAITING_APPROVAL if needs_second_approval else BulletinState.SCHEDULED


def transition(state: BulletinState, event: BulletinEvent, *, needs_second_approval: bool = False,
               outcome: BulletinState | None = None) -> Step:
    """The state after ``event``; :class:`IllegalTransition` when it does not apply.

    ``needs_second_approval`` (EDIT): the edited bulletin is an emergency under the two-person rule, so it
    goes back to awaiting approval. ``outcome`` (EXPIRE of an active bulletin, ALL_CLOSED): completed,
    expired or failed, from :func:`~hq_server.services.delivery.bulletin_outcome`.
    """
    s, e = BulletinState, BulletinEvent
    if event == e.APPROVE and state == s.AWAITING_APPROVAL:
        return Step(s.SCHEDULED, True)
    if event == e.EDIT and state.editable:
        target = s.AWAITING_APPROVAL if needs_second_approval else state
        return Step(target, target != state)
    if event == e.DISPATCH and state == s.SCHEDULED:
        return Step(s.SENDING, True)
    if event == e.PUBLISHED and state == s.SENDING:
        return Step(s.ACTIVE, True)
    if event == e.PUBLISH_FAILED and state == s.SENDING:
        return Step(s.SENDING, False)  # stays: what was not published is published at the next pass
    if event == e.CANCEL and not state.finished:
        return Step(s.CANCELLED, True)
    if event == e.EXPIRE and not state.finished:
        if state == s.ACTIVE:
            return Step(_outcome(outcome), True)
        return Step(s.EXPIRED, True)  # never (fully) sent: awaiting approval, scheduled, sending
    if event == e.ALL_CLOSED and state == s.ACTIVE:
        return Step(_outcome(outcome), True)
    raise IllegalTransition(state, event)


def _outcome(outcome: BulletinState | None) -> BulletinState:
    if outcome not in OUTCOMES:
        raise ValueError(f"an active bulletin ends completed, expired or failed, not {outcome}")
    return outcome


def may(state: BulletinState, event: BulletinEvent, **kw: object) -> bool:
    """Whether ``event`` applies (for buttons and queries)."""
    try:
        transition(state, event, **kw)  # type: ignore[arg-type]
    except (IllegalTransition, ValueError):
        return False
    return True


def deletable(state: BulletinState, ever_sent: bool) -> bool:
    """Only a bulletin that never went out may be deleted; anything sent is cancelled instead (it stays in
    the record)."""
    return not ever_sent and (state.editable or state == BulletinState.EXPIRED)


SENDABLE = frozenset({BulletinState.SCHEDULED, BulletinState.SENDING})
"""States the dispatcher acts on: due scheduled bulletins, and sending ones a stopped process left."""
CANCELLABLE = frozenset(s.value for s in BulletinState if not s.finished)
