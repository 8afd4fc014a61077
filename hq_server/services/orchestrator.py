"""Orchestration: sign and publish bulletins, track acks into per-node deliveries, re-send, expire.

Every inbound MQTT message goes through one queue and one worker, so database writes happen one at a
time in arrival order (SQLite has a single writer, and ordered acks make the history readable).
Delivery decisions themselves live in :mod:`hq_server.services.delivery` (pure).

Re-send contract with the nodes (docs/hq.md, "Reconnect and reconcile"): two triggers, one sending path.

* The node's retained state goes ``online``: HQ re-sends to ``node/{id}/cmd`` every still-valid bulletin
  it has not at least scheduled (:meth:`Orchestrator.resend_to`; works without any report).
* The node's reconnect report (``NodeHealth.bulletins`` set): HQ compares the ids the node holds with
  the ones it wants it to hold (:mod:`hq_server.services.reconcile`, pure), re-sends what is missing
  (also ``scheduled`` ones the node lost with its state) and sends ``cancel`` for what it no longer wants
  (:meth:`Orchestrator.reconcile_node`).

Both go through :meth:`Orchestrator._resend` and skip a bulletin sent to the live node in the last
``IN_FLIGHT_S`` seconds (:func:`~hq_server.services.reconcile.in_flight`), so whichever of the two
messages is handled first sends and the other does not: one re-send per reconnect. A re-send has a new
command id and the same ``bulletin_id``; the node plays each bulletin id once, so a duplicate (also
queued by its persistent session) is harmless.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hq_server.send import publish_command
from hq_server.services import fanout, fleet, zones
from hq_server.services.ack_ingest import AckHandler, AckIngester
from hq_server.services.alerts import Alerter
from hq_server.services.commands import CommandPublisher
from hq_server.services.delivery import (
    DeliveryState,
    needs_resend,
)
from hq_server.services.dispatch import Dispatcher, DispatchSettings, bulletin_fields
from hq_server.services.inbound import (
    InboundRefused,
    Refusal,
    RepeatTracker,
    alert_for,
    check_identity,
)
from hq_server.services.inbound_router import (
    Batcher,
    InboundRouter,
    shared_subscriptions,
    stale_filters,
    subscriptions,
)
from hq_server.services.lifecycle import BulletinState
from hq_server.services.metrics import Metrics
from hq_server.services.reconcile import in_flight, reconcile
from hq_server.services.sweeper import Sweeper
from hq_server.signer import CommandSigner
from hq_server.storage.tables import Bulletin, CommandLog, Delivery, Node, now
from loaxa_contract import codec, topics
from loaxa_contract.models import CameraHealth, NodeHealth, NodeState
from loaxa_link.mqtt import LinkConfig, LinkError, MqttLink

logger = logging.getLogger(__name__)

ACTIVE = BulletinState.ACTIVE.value
SENDING = BulletinState.SENDING.value
CANCEL_TTL_S = 600.0
"""Validity of a reconcile ``cancel`` for a bulletin that has already expired."""
MAX_RECONCILE_CANCELS = 100
"""Cancels one reconcile report can cause; the rest wait for the node's next report (logged)."""


NodeHook = Callable[[Sequence[str]], Awaitable[None]]
"""Called with the nodes that just came online (many at once after a broker restart)."""
HealthHook = Callable[[NodeHealth], Awaitable[None]]
ReconnectHook = Callable[[Sequence[NodeHealth]], Awaitable[None]]
"""Called once per batch with its reconnect reports (not historical ones), after they are reconciled."""
HealthWriter = Callable[[AsyncSession, NodeHealth], Awaitable[None]]
TopicHandler = Callable[[topics.ParsedTopic, bytes], Awaitable[None]]


@dataclass
class OrchestratorSettings:
    commune: str
    lead_time_s: float
    sweep_interval_s: float
    node_offline_after_s: float
    audio_base_url: str
    recurrence_horizon: timedelta = timedelta(days=30)
    recurrence_renew_before: timedelta = timedelta(days=10)
    lead_per_1000_nodes_s: float = 0.0

    def dispatch(self) -> DispatchSettings:
        start = fanout.StartRule(self.lead_time_s, per_1000_nodes_s=self.lead_per_1000_nodes_s,
                                 per_command_s=PUBLISH_S_PER_COMMAND, publish_base_s=PUBLISH_BASE_S)
        return DispatchSettings(self.commune, start, self.audio_base_url, self.recurrence_horizon,
                                self.recurrence_renew_before)


RECEIVE_MAXIMUM = 2000
"""Node messages the broker may have in flight to HQ, unacknowledged (Mosquitto's default is 20 without it):
enough for a few batches while one commits; the rest waits, durably, at the broker."""
MAX_UNHANDLED = 2 * RECEIVE_MAXIMUM
"""Node messages HQ holds unacknowledged before it stops reading from the broker. The receive maximum
alone does not bound them on Debian 12's Mosquitto (2.0.11): each acknowledgement lets a whole receive
maximum more into flight, and a 10 000-node broadcast had ~97 000 messages waiting in HQ's memory."""
PUBLISH_S_PER_COMMAND = 0.001
"""Pipelined publishing costs well under a millisecond per command on loopback; one is the margin."""
PUBLISH_BASE_S = 0.25
"""Committing a broadcast (an fsync) and the first PUBACK, on a loaded 2-core machine, with margin."""

covers = fanout.covers
command_targets = fanout.command_targets


def outbound_config(inbound: LinkConfig) -> LinkConfig:
    """HQ's link for commands, beside the one for node messages (same broker login, own client id).

    On one connection, a command's PUBACK arrives behind every node message the broker sent before it:
    when HQ falls behind its fleet and pauses reading (:data:`MAX_UNHANDLED`), a command would wait for
    the backlog. This link subscribes to nothing and keeps no session (a command in flight at a
    disconnect fails, and HQ's dispatch sends it again)."""
    return replace(inbound, client_id=f"{inbound.client_id}-out", subscriptions=[], manual_ack=False,
                   receive_maximum=None, max_unhandled=None, will=None, birth=None, session_expiry_s=0)


def _missed_renewal(b: Bulletin, delivery: Delivery) -> bool:
    """A node that held an open-ended series but was offline when HQ renewed it still has the old expiry."""
    return (b.renewed_at is not None and not DeliveryState(delivery.state).terminal
            and DeliveryState(delivery.state) != DeliveryState.PENDING
            and (delivery.last_sent_at is None or delivery.last_sent_at < b.renewed_at))


class Orchestrator:
    def __init__(self, settings: OrchestratorSettings, sessions: async_sessionmaker[AsyncSession],
                 link_config: LinkConfig, signer: CommandSigner, alerter: Alerter, metrics: Metrics) -> None:
        self.s = settings
        self.sessions = sessions
        # durable inbound: a message is acknowledged to the broker once its effect is committed
        link_config.manual_ack, link_config.receive_maximum = True, RECEIVE_MAXIMUM
        link_config.max_unhandled = MAX_UNHANDLED
        self.link = MqttLink(link_config, on_message=self.on_message)
        """Node messages in (and the subscriptions that bring them)."""
        self.outbound = MqttLink(outbound_config(link_config))
        """Commands out: their PUBACKs never wait behind node messages HQ has not read yet."""
        self.signer = signer
        self.alerter = alerter
        self.metrics = metrics
        self._tasks: list[asyncio.Task[None]] = []
        self.commands = CommandPublisher(signer, self.outbound, settings.commune, metrics)
        self.dispatcher = Dispatcher(settings.dispatch(), sessions, self.commands, metrics)
        self._dispatch_lock = self.dispatcher.lock
        self.sweeper = Sweeper(sessions, self.dispatcher, alerter, settings.sweep_interval_s,
                               settings.node_offline_after_s)
        # extensions (snapshots, node settings): acks of their command types, node online, node health
        self.ack_handlers: dict[str, AckHandler] = {}
        self.online_hooks: list[NodeHook] = []
        self.health_hooks: list[HealthHook] = []
        self.reconnect_hooks: list[ReconnectHook] = []
        self.health_writers: list[HealthWriter] = []
        """Write into the transaction that records a report (health samples): one commit per batch."""
        self.topic_handlers: dict[topics.TopicKind, TopicHandler] = {}  # e.g. camera events (detections)
        self.refusals = RepeatTracker()
        self.ingester = AckIngester(metrics, self.ack_handlers)
        self.router = InboundRouter(sessions, self._handlers(), self.ingester, self._refused, metrics,
                                    batchers={
                                        topics.TopicKind.NODE_HEALTH: Batcher(NodeHealth, self._on_health_batch),
                                        topics.TopicKind.NODE_STATE: Batcher(NodeState, self._on_state_batch)})
        self._is_leader: Callable[[], bool] = lambda: True
        self._kick_leader: Callable[[], None] | None = None

    @staticmethod
    def subscriptions(commune: str) -> list[str]:
        """Every topic a node publishes (from the topic table)."""
        return subscriptions(commune)

    def on_message(self, topic: str, payload: bytes) -> asyncio.Future[None]:
        return self.router.on_message(topic, payload)

    # ------------------------------------------------------------------ several HQ processes

    def share_with_peers(self, is_leader: Callable[[], bool], kick_leader: Callable[[], None]) -> None:
        """Several HQ processes on one database (before :meth:`start`): node messages through the shared
        subscription; the retained topics, the sweeper (dispatch) and webhook retries only while leading;
        a bulletin committed by another process wakes the leader through ``kick_leader``."""
        self._is_leader, self._kick_leader = is_leader, kick_leader
        self.sweeper.may_run = is_leader
        self.alerter.may_sweep = is_leader
        self.link.config.subscriptions = shared_subscriptions(self.s.commune, leader=False)
        self.link.on_connected = self._drop_stale_filters

    @property
    def leading(self) -> bool:
        """This process dispatches and sweeps (always, with one HQ process)."""
        return self._is_leader()

    async def set_leading(self, leader: bool) -> None:
        """Leadership gained or lost: subscribe or drop the retained topics; a new leader sweeps at once
        (a broadcast its predecessor left ``sending`` is resumed)."""
        try:
            await self.link.set_subscriptions(shared_subscriptions(self.s.commune, leader))
        except (LinkError, TimeoutError) as err:  # the next connection subscribes the new list
            logger.warning("subscriptions after leadership change not applied now: %s", err)
        if leader:
            self.sweeper.wake()

    async def _drop_stale_filters(self, session_present: bool) -> None:
        """A persistent session may hold plain filters from before (a single HQ; a former leader): with the
        shared ones they would deliver messages twice."""
        if not session_present:
            return
        for topic_filter in stale_filters(self.s.commune, self._is_leader()):
            with contextlib.suppress(LinkError, TimeoutError):
                await self.link.unsubscribe(topic_filter)

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self.router.start()
        self._tasks = [loop.create_task(self.sweeper.run(), name="hq:sweeper")]
        await self.outbound.start()
        await self.link.start()

    async def wait_ready(self, timeout: float) -> None:
        """Both links up: node messages subscribed, commands can be published."""
        async with asyncio.timeout(timeout):
            await self.outbound.wait_ready()
            await self.link.wait_ready()

    async def stop(self) -> None:
        await self.link.stop()  # first: nothing more arrives; what was not recorded stays unacknowledged
        await self.router.stop()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.outbound.stop()  # last: the sweeper may have been publishing

    # ------------------------------------------------------------------ inbound

    def _handlers(self) -> dict[topics.TopicKind, TopicHandler]:
        """A handler per inbound topic kind except acks (batched by the ingester); an extension registered in
        ``topic_handlers`` (camera events: detections) takes its kind over."""
        own: dict[topics.TopicKind, TopicHandler] = {
            topics.TopicKind.NODE_STATE: self._on_state,
            topics.TopicKind.NODE_HEALTH: self._on_health,
            topics.TopicKind.CAMERA_HEALTH: self._on_camera_health,
            topics.TopicKind.CAMERA_EVENT: self._on_camera_event,
        }

        def extensible(kind: topics.TopicKind, handler: TopicHandler) -> TopicHandler:
            async def route(parsed: topics.ParsedTopic, payload: bytes) -> None:
                await self.topic_handlers.get(kind, handler)(parsed, payload)
            return route

        return {kind: extensible(kind, handler) for kind, handler in own.items()}

    @property
    def processed(self) -> int:
        """Inbound messages handled to the end (tests wait on it)."""
        return self.router.processed

    async def _refused(self, topic: str, refused: InboundRefused) -> None:
        """Log and count a message HQ does not believe; alert once when a node keeps sending them."""
        kind = topics.parse(topic).kind.value
        self.metrics.inc("loaxa_hq_inbound_refused_total", reason=refused.reason.value, kind=kind)
        level = logging.INFO if refused.reason == Refusal.UNKNOWN_COMMAND else logging.WARNING
        logger.log(level, "refused %s on %s: %s", refused.reason.value, topic, refused.detail)
        if not self.refusals.record(refused.subject, refused.reason, asyncio.get_running_loop().time()):
            return
        severity, message = alert_for(refused)
        alert_kind = "camera_claim" if refused.reason == Refusal.CAMERA_CLAIM else "untrusted_message"
        async with self.sessions() as session:
            await self.alerter.raise_alert(session, alert_kind, refused.subject, message, severity)
            await session.commit()

    async def handle(self, topic: str, payload: bytes) -> None:
        """Act on one node message now, outside the queue (tests, tools); a refusal raises
        :class:`InboundRefused`. The sender is the topic's node (the broker's ACL proves it)."""
        await self.router.handle_now(topic, payload)

    async def _on_state(self, parsed: topics.ParsedTopic, payload: bytes) -> None:
        if not payload:
            return  # a cleared retained message
        msg = codec.decode_model(payload, NodeState)
        check_identity(parsed, msg.node)
        await self._on_state_batch([msg])

    async def _on_state_batch(self, states: Sequence[NodeState]) -> None:
        """Births and last wills (already checked against their topics) in one transaction — after a broker
        restart every node sends its birth at once — then, for the nodes that came online, what they missed
        re-sent and the online hooks run, once for all of them."""
        came_online: dict[str, None] = {}
        async with self.sessions() as session:
            loaded = await fleet.load_nodes(session, {m.node for m in states})
            claims: dict[str, str] = {}
            for msg in states:
                node, online = await fleet.apply_state(session, msg, claims)
                if online:
                    came_online[msg.node] = None
                elif node.state != "online":
                    came_online.pop(msg.node, None)  # online and offline again in the same batch
            await zones.register_claims(session, claims)
            await session.commit()
        del loaded
        if came_online:
            await self.resend_to_many(list(came_online))
            for hook in self.online_hooks:
                await hook(list(came_online))

    async def _on_health(self, parsed: topics.ParsedTopic, payload: bytes) -> None:
        health = codec.decode_model(payload, NodeHealth)
        check_identity(parsed, health.node)
        await self._on_health_batch([health])

    async def _on_health_batch(self, reports: Sequence[NodeHealth]) -> None:
        """Health reports (already checked against their topics) recorded in one transaction — a fleet of
        10 000 nodes sends ~170 a second — then the reconnect reports reconciled and the hooks run."""
        async with self.sessions() as session:
            loaded = await fleet.load_nodes(session, {h.node for h in reports})
            for health in reports:
                await fleet.apply_health(session, health)
                for writer in self.health_writers:
                    await writer(session, health)
            await session.commit()
        del loaded
        reconnects = [h for h in reports if h.bulletins is not None]  # periodic reports carry None
        for health in reconnects:
            if health.historical:
                logger.info("ignored historical reconcile report of %s (stale list)", health.node)
        fresh = [h for h in reconnects if not h.historical]
        if fresh and not await self._reconciled_at_once(fresh):
            for health in fresh:
                await self.reconcile_node(health.node, health.bulletins or [])
        if fresh:
            for reconnect_hook in self.reconnect_hooks:
                await reconnect_hook(fresh)
        for health in reports:
            for health_hook in self.health_hooks:
                await health_hook(health)

    async def _reconciled_at_once(self, reports: Sequence[NodeHealth]) -> bool:
        """True when one query settles every report: none holds a bulletin and HQ has none to send.

        A fleet coming back after a broker restart sends 10 000 reconnect reports, and nearly all say "I hold
        nothing" while nothing is on air; one reconcile each (a transaction under the dispatch lock) cost
        ~50 CPU seconds. Under the same lock, so a broadcast being dispatched is seen as it would be by
        :meth:`reconcile_node`. Otherwise every report is reconciled on its own."""
        if any(h.bulletins for h in reports):
            return False
        async with self._dispatch_lock, self.sessions() as session:
            on_air = await session.scalar(select(Bulletin.id).where(
                Bulletin.state.in_((ACTIVE, SENDING)), Bulletin.expires_at > now()).limit(1))
        if on_air is not None:
            return False
        self.metrics.inc("loaxa_hq_reconciles_total", len(reports))
        logger.info("reconcile %d node(s) (%s): none holds a bulletin and none is on air; nothing to send",
                    len(reports), ", ".join(h.node for h in reports[:5]) + (", …" if len(reports) > 5 else ""))
        return True

    async def _on_camera_health(self, parsed: topics.ParsedTopic, payload: bytes) -> None:
        if not payload:
            return
        cam = codec.decode_model(payload, CameraHealth)
        check_identity(parsed, cam.node, cam.camera)
        try:
            await self._apply_camera_health(cam)
        except IntegrityError:  # a technician registered the camera between our read and commit
            await self._apply_camera_health(cam)  # it exists now: applied as an update

    async def _apply_camera_health(self, cam: CameraHealth) -> None:
        async with self.sessions() as session:
            await fleet.apply_camera_health(session, cam, self.alerter)
            await session.commit()

    @staticmethod
    async def _on_camera_event(parsed: topics.ParsedTopic, payload: bytes) -> None:
        logger.info("camera event on %s not kept: detection events are not enabled in this HQ", parsed.ident)

    # ------------------------------------------------------------------ outbound

    async def _publish(self, session: AsyncSession, b: Bulletin, target: str, play_at: datetime | None) -> str:
        """Sign and log a bulletin command to one target, then publish it (re-sends to one node)."""
        t = now()
        wire = self.commands.sign("bulletin", target, max(1.0, (b.expires_at - t).total_seconds()),
                                  **bulletin_fields(b, play_at, self.s.audio_base_url))
        row = self.commands.log(session, wire, b.id)
        await session.flush()
        await self.commands.publish(wire)
        row.published_at = now()
        return str(wire["id"])

    async def send_command(self, session: AsyncSession, command_type: str, target: str, ttl_s: float,
                           **fields: Any) -> str:
        """Sign, log, commit ``session`` and publish a command that is not a bulletin (snapshot, live view, ...).

        :class:`LinkError` if the broker did not take it (see :meth:`CommandPublisher.send`).
        """
        return await self.commands.send(session, command_type, target, ttl_s, **fields)

    def log_command(self, session: AsyncSession, command_type: str, target: str, ttl_s: float,
                    **fields: Any) -> dict[str, Any]:
        """Sign a command and add it to the command log, unpublished: commit, then :meth:`publish_wire`.

        For commands sent to many nodes at once (settings, zone membership): one commit for all of them.
        """
        wire = self.commands.sign(command_type, target, ttl_s, **fields)
        self.commands.log(session, wire)
        return wire

    async def publish_wire(self, wire: dict[str, Any]) -> None:
        """Publish a command logged by :meth:`log_command`; :class:`LinkError` if the broker did not take it."""
        await self.commands.publish(wire)
        async with self.sessions() as session:
            await self.commands.mark_published(session, [wire["id"]], now())
            await session.commit()

    async def dispatch(self, bulletin_id: str) -> bool:
        """Send a due bulletin now (tests, tools); HTTP requests wake the sweeper instead."""
        return await self.dispatcher.dispatch(bulletin_id)

    def kick(self) -> None:
        """A bulletin was committed that may be due: dispatch it off the request, at once (by the leader)."""
        if self._is_leader():
            self.sweeper.wake()
        elif self._kick_leader is not None:
            self._kick_leader()

    async def resend_to_many(self, node_ids: Sequence[str]) -> int:
        """:meth:`resend_to` for nodes that came online together: one query finds those with anything to
        re-send (usually none), so a thousand births do not cost a thousand transactions."""
        t = now()
        async with self.sessions() as session:
            due = set((await session.scalars(
                select(Delivery.node_id).join(Bulletin, Bulletin.id == Delivery.bulletin_id).where(
                    Delivery.node_id.in_(sorted(set(node_ids))), Bulletin.state == ACTIVE,
                    Bulletin.expires_at > t).distinct())).all())
        return sum([await self.resend_to(node_id) for node_id in node_ids if node_id in due])

    async def resend_to(self, node_id: str) -> int:
        """Re-send every still-valid, unfinished bulletin to a node that came (back) online."""
        sent = 0
        t = now()
        async with self._dispatch_lock, self.sessions() as session:
            online_since = await self._online_since(session, node_id)
            rows = (await session.execute(
                select(Delivery, Bulletin).join(Bulletin, Bulletin.id == Delivery.bulletin_id).where(
                    Delivery.node_id == node_id, Bulletin.state == ACTIVE, Bulletin.expires_at > t))).all()
            for delivery, b in rows:
                if _missed_renewal(b, delivery):
                    if not await self._resend(session, node_id, b, delivery, t, "series renewal re-sent after the "
                                                                               "node reconnected"):
                        break
                    sent += 1
                    continue
                if not needs_resend(DeliveryState(delivery.state)):
                    continue
                if in_flight(delivery.last_sent_at, delivery.attempts, online_since, t):
                    continue  # just sent to the live node (e.g. by its reconcile report): no second copy
                if not await self._resend(session, node_id, b, delivery, t, "re-sent after the node reconnected"):
                    break
                sent += 1
            await session.commit()
        if sent:
            logger.info("re-sent %d bulletin(s) to %s", sent, node_id)
        return sent

    async def send_to_joined(self, node_id: str) -> int:
        """After a node joined zones: send it each active bulletin that now reaches it through a zone and that
        it has not received.

        A bulletin published to a zone topic just before the node subscribed to it never reached the node;
        the node plays each bulletin id once, so one that did arrive is not played twice. One addressed to
        the node itself or to ``all`` is not sent again: those topics do not change with the zones (the
        node's reconnect already re-sent what it missed).
        """
        t, sent = now(), 0
        async with self._dispatch_lock, self.sessions() as session:
            node = await session.get(Node, node_id)
            if node is None:
                return 0
            for b in (await session.scalars(select(Bulletin).where(Bulletin.state == ACTIVE,
                                                                   Bulletin.expires_at > t))).all():
                if not (fanout.reaching(b.targets, node) or "").startswith("zone:"):
                    continue
                delivery = await session.scalar(select(Delivery).where(Delivery.bulletin_id == b.id,
                                                                       Delivery.node_id == node_id))
                if delivery is None:
                    delivery = Delivery(bulletin_id=b.id, node_id=node_id, state="pending", attempts=0)
                    session.add(delivery)
                elif delivery.state != DeliveryState.PENDING:
                    continue
                if not await self._resend(session, node_id, b, delivery, t, "sent: the node joined a target zone"):
                    break
                sent += 1
            await session.commit()
        return sent

    async def reconcile_node(self, node_id: str, held: list[str]) -> tuple[int, int]:
        """Act on a node's reconnect report: re-send what it should hold but does not, cancel the rest.

        Returns (re-sent, cancels sent). See :mod:`hq_server.services.reconcile` for the decision.
        """
        t = now()
        resent: list[str] = []
        cancelled: list[str] = []
        async with self._dispatch_lock, self.sessions() as session:
            node = await fleet.get_or_create_node(session, node_id)
            online_since = node.state_since if node.state == "online" else None
            active = {b.id: b for b in (await session.scalars(select(Bulletin).where(
                Bulletin.state.in_((ACTIVE, SENDING)), Bulletin.expires_at > t))).all()}
            # a broadcast still being sent belongs to the dispatcher: held copies are not cancelled (a
            # stalled send is resumed under new command ids) and missing ones are not re-sent here
            sending = {bid for bid, b in active.items() if b.state == SENDING}
            ids = set(active) | set(held)
            deliveries = {d.bulletin_id: d for d in (await session.scalars(select(Delivery).where(
                Delivery.node_id == node_id, Delivery.bulletin_id.in_(ids)))).all()} if ids else {}
            terminal = {bid for bid, d in deliveries.items() if DeliveryState(d.state).terminal}
            wanted = {bid for bid, b in active.items()  # tracked and unfinished, or covered but untracked
                      if bid not in terminal and (bid in deliveries or covers(b.targets, node))}
            busy = sending | {bid for bid, d in deliveries.items()
                              if in_flight(d.last_sent_at, d.attempts, online_since, t)}
            decision = reconcile(wanted, held, terminal, busy)
            skipped = (wanted - set(held) - terminal) & busy
            sent = await self._sent_to(session, node, decision.cancel, deliveries)
            to_cancel = sorted(sent)[:MAX_RECONCILE_CANCELS]
            if len(sent) < len(decision.cancel) or len(to_cancel) < len(sent):
                logger.warning("reconcile %s: %d held id(s) HQ never sent to this node not cancelled; %d cancel(s) "
                               "left for the next report", node_id, len(decision.cancel) - len(sent),
                               len(sent) - len(to_cancel))
                self.metrics.inc("loaxa_hq_reconcile_unknown_ids_total", len(decision.cancel) - len(sent))
            for bid in sorted(decision.resend):
                b, delivery = active[bid], deliveries.get(bid)
                if delivery is None:  # covered by its targets but unknown to HQ at send time
                    delivery = Delivery(bulletin_id=bid, node_id=node_id, state="pending", attempts=0)
                    session.add(delivery)
                if not await self._resend(session, node_id, b, delivery, t,
                                          "re-sent: missing from the node's reconcile report"):
                    break
                resent.append(bid)
            for bid in to_cancel:
                ttl = (sent[bid].expires_at - t).total_seconds()
                try:
                    wire = self.signer.build("cancel", target=f"node:{node_id}",
                                             ttl_s=ttl if ttl > 1 else CANCEL_TTL_S, bulletin_id=bid)
                    session.add(CommandLog(id=wire["id"], type="cancel", bulletin_id=bid, target=f"node:{node_id}",
                                           expires_at=datetime.fromisoformat(wire["expires_at"])))
                    await session.flush()
                    await publish_command(self.outbound, self.s.commune, wire)
                except LinkError as err:
                    logger.warning("reconcile cancel of %s on %s not sent: %s", bid, node_id, err)
                    break
                except ValueError as err:  # an id the contract refuses: nothing a node could hold
                    logger.warning("reconcile cancel of %r on %s not built: %s", bid, node_id, err)
                    continue
                self.metrics.inc("loaxa_hq_commands_total", type="cancel")
                self.metrics.inc("loaxa_hq_reconcile_cancels_total")
                delivery = deliveries.get(bid)
                if delivery is not None and not DeliveryState(delivery.state).terminal:
                    delivery.reason, delivery.updated_at = "cancel sent: still held by the node at reconnect", t
                cancelled.append(bid)
            await session.commit()
        self.metrics.inc("loaxa_hq_reconciles_total")
        logger.info("reconcile %s: holds %d, HQ wants %d; re-sent %s, cancelled %s%s", node_id, len(held),
                    len(wanted), resent or "none", cancelled or "none",
                    f", just sent (not repeated) {sorted(skipped)}" if skipped else "")
        return len(resent), len(cancelled)

    @staticmethod
    async def _sent_to(session: AsyncSession, node: Node, ids: frozenset[str],
                       deliveries: dict[str, Delivery]) -> dict[str, Bulletin]:
        """Of ``ids`` (held by ``node``), the bulletins HQ sent to it: with a delivery for the node, or sent to
        targets that cover it. Made-up or foreign ids are not HQ's to cancel (one query, not one per id)."""
        if not ids:
            return {}
        rows = (await session.scalars(select(Bulletin).where(Bulletin.id.in_(sorted(ids))))).all()
        return {b.id: b for b in rows if b.id in deliveries or (b.sent_at is not None and covers(b.targets, node))}

    @staticmethod
    async def _online_since(session: AsyncSession, node_id: str) -> datetime | None:
        node = await session.get(Node, node_id)
        return node.state_since if node is not None and node.state == "online" else None

    async def _resend(self, session: AsyncSession, node_id: str, b: Bulletin, delivery: Delivery, t: datetime,
                      reason: str) -> bool:
        """Send ``b`` again to one node (new command id, same bulletin id); False if the broker refused."""
        play_at = b.play_at if b.play_at is not None and b.play_at > t and not b.recurrence else None
        try:
            delivery.command_id = await self._publish(session, b, f"node:{node_id}", play_at)
        except LinkError as err:
            logger.warning("re-send of %s to %s failed: %s", b.id, node_id, err)
            return False
        delivery.attempts += 1
        delivery.last_sent_at = t
        delivery.reason = reason
        self.metrics.inc("loaxa_hq_resends_total")
        return True

    async def cancel(self, bulletin_id: str, by: str) -> bool:
        return await self.dispatcher.cancel(bulletin_id, by)

    async def sweep(self) -> None:
        """One sweeper pass (tests)."""
        await self.sweeper.sweep()
