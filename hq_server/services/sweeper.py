"""The sweeper: HQ's clock. Each pass asks the database only for what is due now.

Per pass, with nothing due: one query each for bulletins due to send (or left ``sending``), approvals that
expired, bulletins whose expiry passed with something still open, series due for renewal and nodes
offline too long — so a pass costs the same with 10 or 10 000 old bulletins (the first sweeper re-read
every cancelled bulletin and its deliveries every second, forever). A bulletin leaves each query's result
once handled (it is sent, expired, finalised or renewed to a later time), so work is proportional to
what falls due.

A POST does not wait for the next pass: :meth:`Sweeper.wake` runs one at once, so a bulletin due now is
dispatched within milliseconds of being committed, off the request.

How a bulletin ends (pure decisions: :func:`hq_server.services.delivery.bulletin_outcome` and
:mod:`hq_server.services.lifecycle`): when its last open delivery closes (on an ack) or at its expiry,
``completed`` only if some node played it, else ``expired``/``failed`` with the reason in ``state_reason``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import and_, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hq_server.services import fleet, occurrences
from hq_server.services.alerts import Alerter
from hq_server.services.delivery import DeliveryState, bulletin_outcome, on_expiry, recurring_expiry
from hq_server.services.dispatch import Dispatcher
from hq_server.services.lifecycle import BulletinEvent, BulletinState, transition
from hq_server.storage.tables import Bulletin, Delivery, Node, now

logger = logging.getLogger(__name__)

ACTIVE = BulletinState.ACTIVE.value
OPEN_STATES = tuple(s.value for s in DeliveryState if not s.terminal)
FLEET_SIZE_EVERY_S = 60.0
APPROVAL_EXPIRED = "hết hạn khi chưa có người thứ hai duyệt (expired while awaiting the second approval)"


async def due_to_send(session: AsyncSession, t: datetime, horizon_s: float) -> list[str]:
    """Scheduled bulletins whose send time is within ``horizon_s`` (the start lead), and any left ``sending``."""
    horizon = t + timedelta(seconds=horizon_s)
    return list((await session.scalars(select(Bulletin.id).where(or_(
        Bulletin.state == BulletinState.SENDING.value,
        and_(Bulletin.state == BulletinState.SCHEDULED.value,
             or_(Bulletin.send_at.is_(None), Bulletin.send_at <= horizon)))).order_by(Bulletin.created_at))).all())


async def expire_unapproved(session: AsyncSession, t: datetime) -> list[str]:
    """Bulletins still awaiting their second approver at their expiry become ``expired`` with a reason."""
    rows = (await session.scalars(select(Bulletin).where(
        Bulletin.state == BulletinState.AWAITING_APPROVAL.value, Bulletin.expires_at <= t))).all()
    for b in rows:
        b.state = transition(BulletinState(b.state), BulletinEvent.EXPIRE).state
        b.state_reason, b.updated_at = APPROVAL_EXPIRED, t
    return [b.id for b in rows]


def _open_delivery() -> object:
    return exists().where(Delivery.bulletin_id == Bulletin.id, Delivery.state.in_(OPEN_STATES))


async def close_deliveries(session: AsyncSession, b: Bulletin, t: datetime, online: set[str]) -> list[DeliveryState]:
    """Close every open delivery of ``b`` at its expiry with a reason; returns every delivery's state."""
    deliveries = (await session.scalars(select(Delivery).where(Delivery.bulletin_id == b.id))).all()
    played = await occurrences.played_by_node(session, b.id) if b.recurrence else {}
    for d in deliveries:
        current = DeliveryState(d.state)
        step = (recurring_expiry(current, d.node_id in online, played.get(d.node_id, 0)) if b.recurrence
                else on_expiry(current, d.node_id in online))
        if step.changed:
            d.state, d.reason, d.updated_at = step.state.value, step.reason, t
            if b.recurrence:
                await occurrences.close_open(session, b.id, d.node_id, step.reason)
    return [DeliveryState(d.state) for d in deliveries]


async def close_expired(session: AsyncSession, t: datetime) -> list[str]:
    """At expiry: close every open delivery with a reason and give an active bulletin its outcome.

    Selects active bulletins past expiry (they leave ``active`` here) and finished ones past expiry that
    still have an open delivery (cancelled, or expired while sending: closed here, so not selected again).
    """
    rows = (await session.scalars(select(Bulletin).where(Bulletin.expires_at <= t, or_(
        Bulletin.state == ACTIVE, and_(Bulletin.state.in_([BulletinState.CANCELLED.value, BulletinState.EXPIRED.value]),
                                       _open_delivery()))))).all()
    if not rows:
        return []
    online = set((await session.scalars(select(Node.id).where(Node.state == "online"))).all())
    for b in rows:
        states = await close_deliveries(session, b, t, online)
        if b.state == ACTIVE:
            outcome = bulletin_outcome(states)
            b.state = transition(BulletinState.ACTIVE, BulletinEvent.EXPIRE, outcome=BulletinState(outcome.state)).state
            b.state_reason, b.updated_at = outcome.reason, t
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
    b.state = transition(BulletinState.ACTIVE, BulletinEvent.ALL_CLOSED, outcome=BulletinState(outcome.state)).state
    b.state_reason, b.updated_at = outcome.reason, t
    return True


async def due_renewals(session: AsyncSession, t: datetime) -> list[str]:
    """Active open-ended series whose command is due for renewal."""
    return list((await session.scalars(select(Bulletin.id).where(Bulletin.state == ACTIVE, Bulletin.renew_at <= t,
                                                                 Bulletin.expires_at > t))).all())


class Sweeper:
    """Runs a pass every ``interval_s`` (and at once when woken)."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], dispatcher: Dispatcher, alerter: Alerter,
                 interval_s: float, node_offline_after_s: float) -> None:
        self.sessions = sessions
        self.dispatcher = dispatcher
        self.alerter = alerter
        self.interval_s = interval_s
        self.node_offline_after_s = node_offline_after_s
        self._wake = asyncio.Event()
        self.passes = 0
        self._fleet: tuple[float, int] = (-FLEET_SIZE_EVERY_S, 0)  # (loop time counted, node count)
        self.may_run: Callable[[], bool] = lambda: True
        """Several HQ processes: only the leader sweeps (two would send the same broadcast)."""

    def wake(self) -> None:
        """Run a pass now (a bulletin was committed that may be due)."""
        self._wake.set()

    async def run(self) -> None:
        while True:
            self._wake.clear()
            try:
                if self.may_run():
                    await self.sweep()
            except Exception:
                logger.exception("sweeper pass failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.interval_s)

    async def sweep(self) -> None:
        """One pass; each query selects only what is due."""
        t = now()
        rule = self.dispatcher.s.start
        async with self.sessions() as session:
            fleet_size = await self._fleet_size(session)
            due = await due_to_send(session, t, rule.lead_s + rule.extra_s(1, fleet_size))
            renewals = await due_renewals(session, t)
        for bulletin_id in due:
            await self.dispatcher.dispatch(bulletin_id)
        if renewals:
            await self.dispatcher.renew_due(renewals, t)
        async with self.sessions() as session:
            for bulletin_id in await expire_unapproved(session, t):
                logger.info("bulletin %s expired awaiting approval", bulletin_id)
            await close_expired(session, t)
            await fleet.check_offline_nodes(session, self.alerter, self.node_offline_after_s, t)
            await session.commit()
        self.passes += 1

    async def _fleet_size(self, session: AsyncSession) -> int:
        """Nodes in the registry, counted once a minute: a timed bulletin is sent early enough for the lead
        a broadcast of this size needs, so it still starts at its ``send_at``."""
        loop_t = asyncio.get_running_loop().time()
        if loop_t - self._fleet[0] >= FLEET_SIZE_EVERY_S:
            self._fleet = (loop_t, int(await session.scalar(select(func.count()).select_from(Node)) or 0))
        return self._fleet[1]
