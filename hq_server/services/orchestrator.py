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
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hq_server.send import publish_command
from hq_server.services import fanout, fleet, occurrences
from hq_server.services.alerts import Alerter
from hq_server.services.commands import CommandPublisher
from hq_server.services.delivery import (
    DeliveryState,
    apply_ack,
    needs_resend,
    recurring_ack,
)
from hq_server.services.dispatch import Dispatcher, DispatchSettings, bulletin_fields
from hq_server.services.inbound import (
    InboundRefused,
    Refusal,
    RepeatTracker,
    alert_for,
    check_identity,
    command_reaches,
)
from hq_server.services.lifecycle import BulletinState
from hq_server.services.metrics import Metrics, observe_seconds
from hq_server.services.reconcile import in_flight, reconcile
from hq_server.services.sweeper import Sweeper, finish_if_all_closed
from hq_server.signer import CommandSigner
from hq_server.storage.tables import Bulletin, CommandLog, Delivery, Node, now
from loaxa_contract import codec, topics
from loaxa_contract.errors import ContractError
from loaxa_contract.models import Ack, AckStage, CameraHealth, NodeHealth, NodeState
from loaxa_link.mqtt import LinkConfig, LinkError, MqttLink

logger = logging.getLogger(__name__)

ACTIVE = BulletinState.ACTIVE.value
CANCEL_TTL_S = 600.0
"""Validity of a reconcile ``cancel`` for a bulletin that has already expired."""
MAX_RECONCILE_CANCELS = 100
"""Cancels one reconcile report can cause; the rest wait for the node's next report (logged)."""
RECEIVED_TRACKED = 200_000
"""Deliveries whose ``received`` time is kept for the received → played histogram (oldest dropped first)."""


AckHandler = Callable[[AsyncSession, CommandLog, Ack], Awaitable[None]]
NodeHook = Callable[[str], Awaitable[None]]
HealthHook = Callable[[NodeHealth], Awaitable[None]]
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


PUBLISH_S_PER_COMMAND = 0.001
"""Pipelined publishing costs well under a millisecond per command on loopback; one is the margin."""
PUBLISH_BASE_S = 0.25
"""Committing a broadcast (an fsync) and the first PUBACK, on a loaded 2-core machine, with margin."""

covers = fanout.covers
command_targets = fanout.command_targets


async def _camera_only(session: AsyncSession, node_id: str) -> bool:
    node = await session.get(Node, node_id)
    return node is not None and node.kind == "camera"


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
        self.link = MqttLink(link_config, on_message=self.on_message)
        self.signer = signer
        self.alerter = alerter
        self.metrics = metrics
        self._inbox: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        self.commands = CommandPublisher(signer, self.link, settings.commune, metrics)
        self.dispatcher = Dispatcher(settings.dispatch(), sessions, self.commands, metrics)
        self._dispatch_lock = self.dispatcher.lock
        self.sweeper = Sweeper(sessions, self.dispatcher, alerter, settings.sweep_interval_s,
                               settings.node_offline_after_s)
        self.processed = 0  # inbound messages handled (tests wait on it)
        self.metrics.bind_queue(self._inbox.qsize)
        self._received_at: dict[tuple[str, str], float] = {}  # (bulletin, node) → monotonic, for received → played
        # extensions (snapshots, node settings): acks of their command types, node online, node health
        self.ack_handlers: dict[str, AckHandler] = {}
        self.online_hooks: list[NodeHook] = []
        self.health_hooks: list[HealthHook] = []
        self.topic_handlers: dict[topics.TopicKind, TopicHandler] = {}  # e.g. camera events (detections)
        self.refusals = RepeatTracker()

    @staticmethod
    def subscriptions(commune: str) -> list[str]:
        kinds = (topics.TopicKind.NODE_STATE, topics.TopicKind.NODE_HEALTH, topics.TopicKind.NODE_ACK,
                 topics.TopicKind.CAMERA_HEALTH, topics.TopicKind.CAMERA_EVENT)
        return [topics.filter_for(k, commune) for k in kinds]

    def on_message(self, topic: str, payload: bytes) -> None:
        self._inbox.put_nowait((topic, payload))

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._inbound(), name="hq:inbound"),
                       loop.create_task(self.sweeper.run(), name="hq:sweeper")]
        await self.link.start()

    async def stop(self) -> None:
        await self.link.stop()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # ------------------------------------------------------------------ inbound

    async def _inbound(self) -> None:
        while True:
            topic, payload = await self._inbox.get()
            try:
                await self.handle(topic, payload)
            except InboundRefused as refused:
                await self._refused(topic, refused)
            except ContractError as err:
                logger.warning("ignored bad message on %s: %s", topic, err)
            except Exception:
                logger.exception("failed to handle message on %s", topic)
            finally:
                self.processed += 1

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
        """Act on one node message. The sender is the topic's node (the broker's ACL proves it); a payload
        naming another node or camera is refused (:mod:`hq_server.services.inbound`)."""
        parsed = topics.parse(topic)
        kind = parsed.kind
        extension = self.topic_handlers.get(kind)
        if extension is not None:
            await extension(parsed, payload)
        elif kind == topics.TopicKind.NODE_ACK:
            ack = codec.decode_model(payload, Ack)
            await self._on_ack(check_identity(parsed, ack.node), ack)
            self.metrics.inc("loaxa_hq_acks_ingested_total")
        elif kind == topics.TopicKind.NODE_STATE:
            if not payload:
                return  # a cleared retained message
            msg = codec.decode_model(payload, NodeState)
            check_identity(parsed, msg.node)
            async with self.sessions() as session:
                _, online = await fleet.apply_state(session, msg)
                await session.commit()
            if online:
                await self.resend_to(msg.node)
                for hook in self.online_hooks:
                    await hook(msg.node)
        elif kind == topics.TopicKind.NODE_HEALTH:
            health = codec.decode_model(payload, NodeHealth)
            check_identity(parsed, health.node)
            async with self.sessions() as session:
                await fleet.apply_health(session, health)
                await session.commit()
            if health.bulletins is not None:  # the reconnect report; periodic ones carry None
                if health.historical:
                    logger.info("ignored historical reconcile report of %s (stale list)", health.node)
                else:
                    await self.reconcile_node(health.node, health.bulletins)
            for health_hook in self.health_hooks:
                await health_hook(health)
        elif kind == topics.TopicKind.CAMERA_HEALTH:
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

    async def _acked_command(self, session: AsyncSession, node_id: str, ack: Ack) -> CommandLog:
        """The command HQ sent that ``ack`` is about, if it reached ``node_id``; else :class:`InboundRefused`."""
        cmd = await session.get(CommandLog, ack.command_id)
        if cmd is None:
            raise InboundRefused(Refusal.UNKNOWN_COMMAND, node_id, f"ack {ack.stage.value} of command "
                                 f"{ack.command_id!r}, which HQ has no record of sending")
        node = await session.get(Node, node_id)
        if not command_reaches(cmd.target, node_id, list(node.zones or []) if node is not None else []):
            raise InboundRefused(Refusal.NOT_TARGETED, node_id, f"ack {ack.stage.value} of command {cmd.id} "
                                 f"sent to {cmd.target}, which does not include this node")
        if ack.bulletin_id is not None and ack.bulletin_id != cmd.bulletin_id:
            raise InboundRefused(Refusal.BULLETIN_MISMATCH, node_id, f"ack of command {cmd.id} names bulletin "
                                 f"{ack.bulletin_id!r}; the command carried {cmd.bulletin_id!r}")
        return cmd

    async def _on_ack(self, node_id: str, ack: Ack) -> None:
        """An ack of ``node_id`` (the topic's node) changes only that node's delivery of the acked command."""
        self.metrics.inc("loaxa_hq_acks_total", stage=ack.stage.value)
        async with self.sessions() as session:
            cmd = await self._acked_command(session, node_id, ack)
            if cmd.type != "bulletin":
                handler = self.ack_handlers.get(cmd.type)
                if handler is not None:
                    await handler(session, cmd, ack)
                    await session.commit()
                return  # acks of cancel/ping commands say nothing about a bulletin's delivery
            bulletin_id = cmd.bulletin_id
            b = await session.get(Bulletin, bulletin_id) if bulletin_id is not None else None
            if b is None or bulletin_id is None:
                return
            delivery = await session.scalar(select(Delivery).where(
                Delivery.bulletin_id == bulletin_id, Delivery.node_id == node_id))
            if delivery is None and await _camera_only(session, node_id):
                logger.info("ack %s of %s from camera-only node %s not tracked (%s)", ack.stage.value, bulletin_id,
                            node_id, ack.reason or "-")
                return
            if delivery is None:  # the command reached it (its zone or `all`) but HQ did not know it at send time
                delivery = Delivery(bulletin_id=bulletin_id, node_id=node_id, state="pending",
                                    command_id=ack.command_id, attempts=1)
                session.add(delivery)
            if b.recurrence:
                step, occurrence_state = recurring_ack(DeliveryState(delivery.state), ack.stage, ack.reason)
                if occurrence_state is not None:
                    await occurrences.record(session, b.id, ack, occurrence_state)
            else:
                step = apply_ack(DeliveryState(delivery.state), ack.stage, ack.reason)
            if step.changed:
                delivery.state = step.state.value
                delivery.reason = step.reason or (ack.detail[:200] if ack.detail and step.state.terminal
                                                  and step.state != DeliveryState.PLAYED else None)
                delivery.updated_at = now()
                if ack.stage == AckStage.PLAYED:
                    delivery.started_at, delivery.ended_at = ack.started_at, ack.ended_at
                    delivery.duration_s = ack.duration_s
                self._observe_ack(bulletin_id, delivery, ack)
                if step.state.terminal:
                    await session.flush()
                    await finish_if_all_closed(session, b, now())
            await session.commit()

    def _observe_ack(self, bulletin_id: str, delivery: Delivery, ack: Ack) -> None:
        """Fan-out histograms: sent → received, received → played (a delivery's state just changed)."""
        key = (bulletin_id, ack.node)
        if ack.stage == AckStage.RECEIVED:
            if delivery.last_sent_at is not None:
                observe_seconds(self.metrics.sent_to_received, (now() - delivery.last_sent_at).total_seconds())
            self._received_at[key] = time.monotonic()
            if len(self._received_at) > RECEIVED_TRACKED:  # bounded: a node that never plays must not leak
                self._received_at.pop(next(iter(self._received_at)))
        elif ack.stage == AckStage.PLAYED and key in self._received_at:
            observe_seconds(self.metrics.received_to_played, time.monotonic() - self._received_at.pop(key))

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
        """A bulletin was committed that may be due: dispatch it off the request, at once."""
        self.sweeper.wake()

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
        """After a node joined zones: send it each active bulletin that now covers it and that it has not received.

        A bulletin published to a zone topic just before the node subscribed to it never reached the node;
        the node plays each bulletin id once, so one that did arrive is not played twice.
        """
        t, sent = now(), 0
        async with self._dispatch_lock, self.sessions() as session:
            node = await session.get(Node, node_id)
            if node is None:
                return 0
            for b in (await session.scalars(select(Bulletin).where(Bulletin.state == ACTIVE,
                                                                   Bulletin.expires_at > t))).all():
                if not covers(b.targets, node):
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
                Bulletin.state == ACTIVE, Bulletin.expires_at > t))).all()}
            ids = set(active) | set(held)
            deliveries = {d.bulletin_id: d for d in (await session.scalars(select(Delivery).where(
                Delivery.node_id == node_id, Delivery.bulletin_id.in_(ids)))).all()} if ids else {}
            terminal = {bid for bid, d in deliveries.items() if DeliveryState(d.state).terminal}
            wanted = {bid for bid, b in active.items()  # tracked and unfinished, or covered but untracked
                      if bid not in terminal and (bid in deliveries or covers(b.targets, node))}
            busy = {bid for bid, d in deliveries.items() if in_flight(d.last_sent_at, d.attempts, online_since, t)}
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
                    await publish_command(self.link, self.s.commune, wire)
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
