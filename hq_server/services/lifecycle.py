"""The sweeper's queries: each selects only what is due now, so a pass costs the same with 10 or 10 000
old bulletins (the old sweeper re-read every cancelled bulletin and its deliveries every second, forever).

Per pass, with nothing due: one query each for bulletins due to send, approvals that expired, bulletins
whose expiry passed with something still open, and series due for renewal. A bulletin leaves each
query's result once handled (it is sent, expired, finalised or renewed to a later time), so work is
proportional to what falls due.

How a bulletin ends (pure decision: :func:`hq_server.services.delivery.bulletin_outcome`): when its last
open delivery closes (on an ack) or at its expiry, ``completed`` only if some node played it, else
``expired``/``failed`` with the reason in ``state_reason``.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import and_, exists, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from hq_server.services import occurrences
from hq_server.services.delivery import DeliveryState, bulletin_outcome, on_expiry, recurring_expiry
from hq_server.storage.tables import Bulletin, Delivery, Node

ACTIVE = "active"
OPEN_STATES = tuple(s.value for s in DeliveryState if not s.terminal)
APPROVAL_EXPIRED = ("hết hạn khi chưa có người thứ hai duyệt (expired while awaiting the second approval)")


async def due_to_send(session: AsyncSession, t: datetime, lead_s: float) -> list[str]:
    """Ids of scheduled bulletins whose send time (less the lead time) has come."""
    horizon = t + timedelta(seconds=lead_s)
    return list((await session.scalars(select(Bulletin.id).where(
        Bulletin.state == "scheduled", or_(Bulletin.send_at.is_(None), Bulletin.send_at <= horizon))
        .order_by(Bulletin.created_at))).all())


async def expire_unapproved(session: AsyncSession, t: datetime) -> list[str]:
    """Bulletins still awaiting their second approver at their expiry become ``expired`` with a reason."""
    rows = (await session.scalars(select(Bulletin).where(Bulletin.state == "awaiting_approval",
                                                         Bulletin.expires_at <= t))).all()
    for b in rows:
        b.state, b.state_reason, b.updated_at = "expired", APPROVAL_EXPIRED, t
    return [b.id for b in rows]


def _open_delivery() -> object:
    return exists().where(Delivery.bulletin_id == Bulletin.id, Delivery.state.in_(OPEN_STATES))


async def close_expired(session: AsyncSession, t: datetime) -> list[str]:
    """At expiry: close every open delivery with a reason and give an active bulletin its outcome.

    Selects active bulletins past expiry (they leave ``active`` here) and cancelled ones past expiry that
    still have an open delivery (closed here, so they are not selected again).
    """
    rows = (await session.scalars(select(Bulletin).where(Bulletin.expires_at <= t, or_(
        Bulletin.state == ACTIVE, and_(Bulletin.state == "cancelled", _open_delivery()))))).all()
    if not rows:
        return []
    online = set((await session.scalars(select(Node.id).where(Node.state == "online"))).all())
    for b in rows:
        deliveries = (await session.scalars(select(Delivery).where(Delivery.bulletin_id == b.id))).all()
        played = await occurrences.played_by_node(session, b.id) if b.recurrence else {}
        for d in deliveries:
            current = DeliveryState(d.state)
            step = (recurring_expiry(current, d.node_id in online, played.get(d.node_id, 0)) if b.recurrence
                    else on_expiry(current, d.node_id in online))
            if step.changed:
                d.state, d.reason, d.updated_at = step.state.value, step.reason, t
        if b.state == ACTIVE:
            outcome = bulletin_outcome([DeliveryState(d.state) for d in deliveries])
            b.state, b.state_reason, b.updated_at = outcome.state, outcome.reason, t
    return [b.id for b in rows]


async def finish_if_all_closed(session: AsyncSession, b: Bulletin, t: datetime) -> bool:
    """After an ack closed a delivery: an active bulletin whose every delivery is closed gets its outcome now."""
    if b.state != ACTIVE:
        return False
    states = [DeliveryState(s) for s in (await session.scalars(
        select(Delivery.state).where(Delivery.bulletin_id == b.id))).all()]
    if not states or not all(s.terminal for s in states):
        return False
    outcome = bulletin_outcome(states)
    b.state, b.state_reason, b.updated_at = outcome.state, outcome.reason, t
    return True


async def due_renewals(session: AsyncSession, t: datetime) -> list[Bulletin]:
    """Active open-ended series whose command is due for renewal."""
    return list((await session.scalars(select(Bulletin).where(Bulletin.state == ACTIVE, Bulletin.renew_at <= t,
                                                              Bulletin.expires_at > t))).all())
