"""Sending a bulletin: the first broadcast of a due bulletin, its resumption, its cancel, series renewal.

A broadcast is two short transactions around the publishing, never one long one:

1. *prepare* — the targets are planned in one pass over the registry (:mod:`hq_server.services.fanout`),
   every covered loudspeaker gets its ``pending`` delivery in one bulk insert, one command per topic is
   signed with the start time computed from the size of the broadcast, the commands are logged and the
   bulletin becomes ``sending`` — **committed**, so the first ack (milliseconds later) finds its command;
2. *publish* — every command pipelined (:meth:`CommandPublisher.publish_all`);
3. *record* — the commands the broker took are marked published and the bulletin becomes ``active``.

A process that stops between 1 and 3 leaves the bulletin ``sending``; whoever dispatches next (this
process after a restart, or another HQ process) publishes only the commands the broker is not known to
have taken — not marked published, and not acknowledged by any node (an ack naming a command proves the
broker took it) — with a new command id each, keeping the start time if it is still ahead. A broadcast
another process left ``sending`` is resumed only ``RESUME_AFTER_S`` after that process prepared it, so the
nodes' acks of what it did publish are recorded first. A command the broker took in the last instant
before the stop, that no node has acknowledged yet (e.g. to a zone whose loudspeakers are offline), goes
out again under a new id; a loudspeaker plays each bulletin id once, so nothing plays twice.

The dispatcher never runs on the HTTP request: a POST commits the bulletin and wakes the sweeper,
which calls :meth:`Dispatcher.dispatch` (so the POST answers at once whatever the fan-out).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hq_server.services import fanout
from hq_server.services.ack_ingest import finish_closed
from hq_server.services.commands import CommandPublisher, Wire
from hq_server.services.delivery import DeliveryState, on_cancel
from hq_server.services.lifecycle import BulletinEvent, BulletinState, IllegalTransition, transition
from hq_server.services.metrics import Metrics, observe_seconds
from hq_server.services.recurrence import renewed_lifetime
from hq_server.storage.tables import Bulletin, CommandLog, Delivery, Node, now

logger = logging.getLogger(__name__)

OFFLINE_AT_SEND = "node offline at send time; waiting for it to reconnect"
NEVER_SENT = "hết hạn trước khi gửi được (expired before it could be sent)"
RESUME_AFTER_S = 2.0
"""A broadcast another process (or this one before a restart) left ``sending`` is resumed once it is this old:
the acks of the commands it did publish arrive within it (and are recorded) instead of after a re-send."""


@dataclass(frozen=True)
class DispatchSettings:
    commune: str
    start: fanout.StartRule
    audio_base_url: str
    recurrence_horizon: timedelta = timedelta(days=30)
    recurrence_renew_before: timedelta = timedelta(days=10)


def bulletin_fields(b: Bulletin, play_at: datetime | None, audio_base_url: str) -> dict[str, Any]:
    """The signed fields of a bulletin command (everything a node needs to play it)."""
    fields: dict[str, Any] = {
        "bulletin_id": b.id, "title": b.title, "kind": b.kind, "text": b.text, "priority": b.priority,
        "status": b.status, "repeat": b.repeat, "chime": b.chime, "volume": b.volume, "voice": b.voice,
        "rate": b.rate, "recurrence": b.recurrence,
        "play_at": play_at.isoformat() if play_at else None,
    }
    if b.audio_sha256:
        audio = {"sha256": b.audio_sha256, "url": f"{audio_base_url}/audio/{b.audio_sha256}",
                 "duration_s": b.audio_duration_s}
        fields["audio"] = {k: v for k, v in audio.items() if v is not None}
    if b.kind == "relay" and b.relay_url and b.relay_end_at:
        fields["relay"] = {"url": b.relay_url, "end_at": b.relay_end_at.isoformat()}
    return {k: v for k, v in fields.items() if v is not None}


def ttl_of(b: Bulletin, t: datetime) -> float:
    return max(1.0, (b.expires_at - t).total_seconds())


@dataclass
class Prepared:
    """A broadcast committed and ready to publish."""

    bulletin_id: str
    priority: str
    wires: list[Wire]
    play_at: datetime
    nodes: int
    resumed: bool = False
    prepare_s: float = 0.0
    due: datetime | None = None
    """When the bulletin fell due (created, or its send time less the lead): the submit → sent histogram."""


class Dispatcher:
    def __init__(self, settings: DispatchSettings, sessions: async_sessionmaker[AsyncSession],
                 publisher: CommandPublisher, metrics: Metrics, lock: asyncio.Lock | None = None) -> None:
        self.s = settings
        self.sessions = sessions
        self.publisher = publisher
        self.metrics = metrics
        self.lock = lock or asyncio.Lock()
        """Serialises this process's sends (dispatch, cancel, renewal, re-sends)."""
        self._mine: set[str] = set()
        """Bulletins this process prepared (a retry of its own failed publish needs no wait)."""

    # ------------------------------------------------------------------ broadcast

    async def dispatch(self, bulletin_id: str) -> bool:
        """Send a due bulletin (or finish sending one left ``sending``); False if there was nothing to send
        or the broker did not take every command (the rest is published at the next pass)."""
        async with self.lock:
            started = time.perf_counter()
            prepared = await self._prepare(bulletin_id)
            if prepared is None:
                return False
            prepared.prepare_s = time.perf_counter() - started
            return await self._publish(prepared)

    async def _prepare(self, bulletin_id: str) -> Prepared | None:
        async with self.sessions() as s:
            b = await s.get(Bulletin, bulletin_id, with_for_update=True)  # an edit in flight commits first
            if b is None:
                return None
            state, t = BulletinState(b.state), now()
            if state not in (BulletinState.SCHEDULED, BulletinState.SENDING):
                return None
            if (state == BulletinState.SENDING and b.id not in self._mine
                    and (t - b.updated_at).total_seconds() < RESUME_AFTER_S):
                return None  # left by another process a moment ago: its nodes' acks first (next pass)
            if b.expires_at <= t:
                b.state, b.state_reason, b.updated_at = transition(state, BulletinEvent.EXPIRE).state, NEVER_SENT, t
                await s.commit()
                return None
            prepared = await (self._resume(s, b, t) if state == BulletinState.SENDING else self._first(s, b, t))
            await s.commit()
            self._mine.add(b.id)
            if len(self._mine) > 10_000:  # bounded; forgetting one only delays its retry by RESUME_AFTER_S
                self._mine.clear()
            return prepared

    async def _first(self, s: AsyncSession, b: Bulletin, t: datetime) -> Prepared:
        n = Node.__table__.c  # Core columns: a third of the ORM's cost per row at 10 000 nodes (measured)
        rows = (await s.execute(select(n.id, n.zones, n.kind, n.state))).all()
        plan = fanout.plan(b.targets, (fanout.NodeRow(i, tuple(z or ()), k, st == "online") for i, z, k, st in rows))
        ids = {target: uuid.uuid4().hex[:16] for target in plan.targets}
        existing = set((await s.scalars(select(Delivery.node_id).where(Delivery.bulletin_id == b.id))).all())
        new = [{"bulletin_id": b.id, "node_id": node, "state": DeliveryState.PENDING.value, "attempts": 1,
                "command_id": ids[target], "last_sent_at": t, "updated_at": t,
                "reason": None if node in plan.online else OFFLINE_AT_SEND}
               for node, target in plan.reach.items() if node not in existing]
        if new:
            await s.execute(insert(Delivery.__table__), new)
        for node in existing & set(plan.reach):  # rows from an earlier attempt (rare): point them at this send
            await s.execute(update(Delivery).where(Delivery.bulletin_id == b.id, Delivery.node_id == node,
                                                   Delivery.command_id.is_(None))
                            .values(command_id=ids[plan.reach[node]], attempts=Delivery.attempts + 1, last_sent_at=t))
        signed_at = now()  # after the bulk insert: the start is planned from when publishing begins
        play_at = fanout.play_at(self.s.start, signed_at, b.send_at, len(plan.targets), len(plan.reach))
        wires = self._sign(b, [(target, ids[target]) for target in plan.targets], play_at, signed_at)
        self.log_all(s, wires, b.id)
        b.state = transition(BulletinState.SCHEDULED, BulletinEvent.DISPATCH).state
        b.play_at, b.updated_at = play_at, signed_at
        lead = timedelta(seconds=self.s.start.lead_s)
        due = b.created_at if b.send_at is None else max(b.created_at, b.send_at - lead)
        return Prepared(b.id, b.priority, wires, play_at, len(plan.reach), due=due)

    async def _resume(self, s: AsyncSession, b: Bulletin, t: datetime) -> Prepared | None:
        """A bulletin left ``sending``: publish, under new ids, to every target with no command the broker took.

        The old commands stay in the log: one of them may have gone out just before the stop, and the acks
        of a node that got it name its id.
        """
        rows = (await s.scalars(select(CommandLog).where(CommandLog.bulletin_id == b.id,
                                                         CommandLog.type == "bulletin"))).all()
        acked = set((await s.scalars(select(Delivery.command_id).where(
            Delivery.bulletin_id == b.id, Delivery.state != DeliveryState.PENDING.value))).all())
        for row in rows:
            if row.published_at is None and row.id in acked:  # a node acked it: the broker had taken it
                row.published_at = t
        done = {row.target for row in rows if row.published_at is not None}
        left = list(dict.fromkeys(row.target for row in rows if row.target not in done))
        if not left:  # everything went out; only the record of it was lost
            logger.warning("bulletin %s was left sending: every command had reached the broker (taken or acked by "
                           "its nodes); recorded as sent", b.id)
            b.state, b.sent_at, b.updated_at = BulletinState.ACTIVE.value, b.sent_at or t, t
            await s.flush()
            await finish_closed(s, [b])  # its nodes may all have played meanwhile
            return None
        nodes = int(await s.scalar(select(func.count()).select_from(Delivery).where(Delivery.bulletin_id == b.id))
                    or 0)
        earliest = fanout.play_at(self.s.start, t, None, len(left), nodes)
        play_at = b.play_at if b.play_at is not None and b.play_at >= earliest else fanout.play_at(
            self.s.start, t, b.send_at, len(left), nodes)
        renamed = [(target, uuid.uuid4().hex[:16]) for target in left]
        wires = self._sign(b, renamed, play_at, t)
        self.log_all(s, wires, b.id)
        b.play_at, b.updated_at = play_at, t
        logger.warning("bulletin %s was left sending: publishing to %d target(s) the broker never took: %s", b.id,
                       len(left), ", ".join(left)[:200])
        return Prepared(b.id, b.priority, wires, play_at, nodes, resumed=True)

    def _sign(self, b: Bulletin, targets: list[tuple[str, str]], play_at: datetime | None, t: datetime) -> list[Wire]:
        fields = bulletin_fields(b, play_at, self.s.audio_base_url)
        return self.publisher.sign_many("bulletin", [(target, {"id": command_id}) for target, command_id in targets],
                                        ttl_of(b, t), **fields)

    def log_all(self, s: AsyncSession, wires: list[Wire], bulletin_id: str) -> None:
        for wire in wires:
            self.publisher.log(s, wire, bulletin_id)

    async def _publish(self, p: Prepared) -> bool:
        started = time.perf_counter()
        results = await self.publisher.publish_all(p.wires)
        publish_s = time.perf_counter() - started
        taken = [w["id"] for w, err in zip(p.wires, results, strict=True) if err is None]
        t = now()
        async with self.sessions() as s:
            await self.publisher.mark_published(s, taken, t)
            if len(taken) == len(p.wires):
                await s.execute(update(Bulletin).where(Bulletin.id == p.bulletin_id,
                                                       Bulletin.state == BulletinState.SENDING.value)
                                .values(state=BulletinState.ACTIVE.value, sent_at=t, updated_at=t))
                b = await s.get(Bulletin, p.bulletin_id)
                if b is not None:  # every node may have acked while it was sending (a resumed broadcast)
                    await finish_closed(s, [b])
            await s.commit()
        if len(taken) < len(p.wires):
            errors = sorted({str(e) for e in results if e is not None})
            logger.warning("bulletin %s: %d of %d command(s) not taken by the broker yet (%s); retried at the next "
                           "pass", p.bulletin_id, len(p.wires) - len(taken), len(p.wires), "; ".join(errors)[:300])
            return False
        if fanout.lead_fell_short(self.s.start, t, p.play_at):
            self.metrics.inc("loaxa_hq_start_lead_short_total")
            logger.warning("bulletin %s: publishing ended %s, less than the lead time before its start %s",
                           p.bulletin_id, t.isoformat(timespec="milliseconds"),
                           p.play_at.isoformat(timespec="milliseconds"))
        self.metrics.inc("loaxa_hq_bulletins_sent_total", priority=p.priority)
        if p.due is not None:
            observe_seconds(self.metrics.submit_to_sent, (t - p.due).total_seconds())
        logger.info("bulletin %s %s: %d command(s) to %d node(s), play_at %s (prepared in %.0f ms, published in "
                    "%.0f ms)", p.bulletin_id, "resumed" if p.resumed else "sent", len(p.wires), p.nodes,
                    p.play_at.isoformat(), p.prepare_s * 1000, publish_s * 1000)
        return True

    # ------------------------------------------------------------------ cancel

    async def cancel(self, bulletin_id: str, by: str) -> bool:
        """Cancel a bulletin that has not finished; False if it had (or does not exist).

        Deliveries still ``pending`` are cancelled at once; a node that holds it confirms with its own
        ``cancelled`` ack. A cancel command is published to each target if anything may have gone out.
        """
        async with self.lock:
            async with self.sessions() as s:
                b = await s.get(Bulletin, bulletin_id, with_for_update=True)
                if b is None:
                    return False
                state, t = BulletinState(b.state), now()
                try:
                    b.state = transition(state, BulletinEvent.CANCEL).state
                except IllegalTransition:
                    return False
                b.cancelled_by, b.updated_at = by, t
                step = on_cancel(DeliveryState.PENDING)
                await s.execute(update(Delivery).where(Delivery.bulletin_id == b.id,
                                                       Delivery.state == DeliveryState.PENDING.value)
                                .values(state=step.state.value, reason=step.reason, updated_at=t))
                wires: list[Wire] = []
                if state.published and b.expires_at > t:
                    wires = [self.publisher.sign("cancel", target, ttl_of(b, t), bulletin_id=b.id)
                             for target in fanout.command_targets(b.targets)]
                    self.log_all(s, wires, b.id)
                await s.commit()
            await self._publish_plain(wires, f"cancel of {bulletin_id}")
        return True

    async def _publish_plain(self, wires: list[Wire], what: str) -> list[str]:
        """Publish committed commands and mark those the broker took; returns their ids."""
        if not wires:
            return []
        results = await self.publisher.publish_all(wires)
        taken = [w["id"] for w, err in zip(wires, results, strict=True) if err is None]
        for w, err in zip(wires, results, strict=True):
            if err is not None:
                logger.warning("%s not published to %s: %s", what, w["target"], err)
        async with self.sessions() as s:
            await self.publisher.mark_published(s, taken, now())
            await s.commit()
        return taken

    # ------------------------------------------------------------------ open-ended series

    async def renew_due(self, due: list[str], t: datetime) -> None:
        """Re-sign open-ended series before their command expires: same bulletin id, later ``expires_at``.

        Published to the bulletin's targets like the first send (nodes holding the series extend it; a node
        that joined a target zone meanwhile gets the series); nodes offline now get it on reconnect (their
        delivery's last send predates ``renewed_at``).
        """
        for bulletin_id in due:
            async with self.lock:
                await self._renew(bulletin_id, t)

    async def _renew(self, bulletin_id: str, t: datetime) -> None:
        async with self.sessions() as s:
            b = await s.get(Bulletin, bulletin_id)
            if b is None or b.state != BulletinState.ACTIVE.value:
                return
            previous = (b.expires_at, b.renew_at, b.renewed_at)
            life = renewed_lifetime(t, horizon=self.s.recurrence_horizon, renew_before=self.s.recurrence_renew_before)
            b.expires_at, b.renew_at, b.renewed_at = life.expires_at, life.renew_at, t
            wires = self._sign(b, [(target, uuid.uuid4().hex[:16]) for target in fanout.command_targets(b.targets)],
                               None, t)
            self.log_all(s, wires, b.id)
            online = select(Node.id).where(Node.state == "online").scalar_subquery()
            open_states = [st.value for st in DeliveryState if not st.terminal]
            await s.execute(update(Delivery).where(Delivery.bulletin_id == b.id, Delivery.node_id.in_(online),
                                                   Delivery.state.in_(open_states)).values(last_sent_at=t))
            await s.commit()
        taken = await self._publish_plain(wires, f"renewal of series {bulletin_id}")
        if len(taken) < len(wires):
            async with self.sessions() as s:  # not renewed after all: tried again at the next pass
                await s.execute(update(Bulletin).where(Bulletin.id == bulletin_id).values(
                    expires_at=previous[0], renew_at=previous[1], renewed_at=previous[2]))
                await s.commit()
            return
        logger.info("series %s renewed until %s", bulletin_id, life.expires_at.isoformat())
