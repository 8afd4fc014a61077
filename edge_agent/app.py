"""Composition root of the edge agent: builds the parts, owns the start and stop order.

Start: state dir → gate (keys, replay state) → sink/engine → player → link (connects in the
background, subscribes, publishes the retained ``online`` birth). Stop, in reverse: player, then a
clean ``offline`` state and disconnect. An unclean death leaves the broker to publish the will.
"""

from __future__ import annotations

import asyncio
import logging
import time

from edge_agent.acks import AckReporter
from edge_agent.config import NodeConfig
from edge_agent.dispatcher import Dispatcher
from edge_agent.outbox import DiskOutbox
from edge_agent.playback.sinks import AudioSink, make_sink
from edge_agent.player import Player
from edge_agent.security import CommandGate, PersistentReplayGuard
from edge_agent.version import AGENT_VERSION
from loaxa_contract import codec, signing, topics
from loaxa_contract.models import AckStage, CancelCommand, CommandBase, NodeHealth, NodeState, PingCommand
from loaxa_link.mqtt import LinkConfig, LinkError, MqttLink
from loaxa_speech.tts.engines.base import TtsEngine
from loaxa_speech.tts.engines.espeak import EspeakEngine

logger = logging.getLogger(__name__)


class EdgeAgent:
    def __init__(self, config: NodeConfig, *, sink: AudioSink | None = None, engine: TtsEngine | None = None) -> None:
        self.config = config
        node = config.node
        config.state_dir.mkdir(parents=True, exist_ok=True)
        self.started_monotonic = time.monotonic()
        self.state_topic = topics.node_state(node.commune, node.id)
        self.link = MqttLink(self._link_config(), on_message=self._on_message)
        self.link.on_connected = self._on_connected
        self.acks = AckReporter(node.id, topics.node_ack(node.commune, node.id), self.link.publish,
                                lambda: self.link.connected, outbox=DiskOutbox(config.state_dir / "outbox"),
                                health_topic=topics.node_health(node.commune, node.id))
        self.gate = CommandGate(
            node_id=node.id, zones=list(node.zones),
            public_key=signing.load_public_key(config.security.hq_public_key),
            replay=PersistentReplayGuard.load(config.state_dir / "replay.json"),
        )
        self.sink = sink or make_sink(config.audio.sink, file_dir=config.audio.file_dir,
                                      alsa_device=config.audio.alsa_device)
        self.player = Player(engine=engine or EspeakEngine(), sink=self.sink, acks=self.acks,
                             state_dir=config.state_dir, voice=config.tts.voice, rate_wpm=config.tts.rate_wpm)
        self.dispatcher = Dispatcher(self.gate, self.acks)
        self.dispatcher.register("bulletin", self.player.submit)
        self.dispatcher.register("cancel", self._cancel)
        self.dispatcher.register("ping", self._ping)
        self._health_task: asyncio.Task[None] | None = None

    def _state_payload(self, state: str) -> bytes:
        node = self.config.node
        return codec.encode(NodeState(node=node.id, state=state, kind=node.kind, agent_version=AGENT_VERSION,
                                      zones=list(node.zones), capabilities=sorted(self.dispatcher.handlers)))

    def _link_config(self) -> LinkConfig:
        b, node = self.config.broker, self.config.node
        return LinkConfig(
            host=b.host, port=b.port, client_id=f"loaxa-{node.commune}-{node.id}",
            username=b.username, password=self.config.broker_password(), keepalive=b.keepalive_s,
            session_expiry_s=b.session_expiry_s,
            tls_ca=str(b.tls.ca) if b.tls else None,
            tls_cert=str(b.tls.cert) if b.tls and b.tls.cert else None,
            tls_key=str(b.tls.key) if b.tls and b.tls.key else None,
            subscriptions=topics.node_command_filters(node.commune, node.id, list(node.zones)),
        )

    async def start(self) -> None:
        self.link.set_will(self.state_topic, self._state_payload("offline"))
        self.link.config.birth = (self.state_topic, self._state_payload("online"))
        self.player.start()
        await self.link.start()
        self._health_task = asyncio.get_running_loop().create_task(self._health_loop(),
                                                                   name=f"health:{self.config.node.id}")
        logger.info("edge agent %s started (commune %s, zones %s)", self.config.node.id,
                    self.config.node.commune, ",".join(self.config.node.zones) or "-")

    async def stop(self) -> None:
        if self._health_task:
            self._health_task.cancel()
        await self.player.stop()
        await self.link.stop(final=(self.state_topic, self._state_payload("offline")))

    async def _on_connected(self, session_present: bool) -> None:
        await self.acks.flush()

    async def _on_message(self, topic: str, payload: bytes) -> None:
        await self.dispatcher.handle(topic, payload)

    async def _cancel(self, command: CommandBase) -> None:
        assert isinstance(command, CancelCommand)
        found = await self.player.cancel(command.id, command.bulletin_id)
        if found:
            await self.acks.ack(command.id, AckStage.CANCELLED, bulletin_id=command.bulletin_id,
                                detail="cancel applied")
        else:
            await self.acks.ack(command.id, AckStage.FAILED, bulletin_id=command.bulletin_id,
                                reason="unknown_bulletin", detail="nothing queued or playing with this id")

    async def _ping(self, command: CommandBase) -> None:
        assert isinstance(command, PingCommand)
        await self.acks.ack(command.id, AckStage.PONG)

    def health(self) -> NodeHealth:
        return NodeHealth(node=self.config.node.id, uptime_s=round(time.monotonic() - self.started_monotonic, 1),
                          queue_length=self.player.queue_length, playing=self.player.playing,
                          agent_version=AGENT_VERSION)

    async def _health_loop(self) -> None:
        topic = topics.node_health(self.config.node.commune, self.config.node.id)
        while True:
            await asyncio.sleep(self.config.health_interval_s)
            if self.link.connected:
                try:
                    await self.link.publish(topic, codec.encode(self.health()))
                except LinkError as err:
                    logger.info("health report not sent: %s", err)
