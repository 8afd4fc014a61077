"""Composition root of the edge agent: builds the parts, owns the start and stop order.

Start, in order (a :class:`~loaxa_common.lifecycle.Lifecycle`): amplifier relay OFF (whatever a crash
left) → job store → player (restores accepted bulletins) → link (connects in the background,
subscribes, publishes the retained ``online`` birth; on every connect: flush the outbox, publish
health with the held bulletin ids for HQ to reconcile) → cameras → health reports. Stop runs the
steps in reverse — inputs first (link: ``offline`` state and disconnect), then the player, the job
store — every step even if an earlier one fails (the errors are raised together afterwards), and
the relay is switched OFF in a ``finally``, whatever happened before. An unclean death leaves the
broker to publish the will, and the relay is switched off at the next start.

Worker tasks (player, programme windows, health reports) are supervised: a crash is logged,
reported in the health report's ``problems`` and the worker restarted.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from edge_agent.config import NodeConfig
from edge_agent.control import takeover
from edge_agent.control.acks import AckReporter
from edge_agent.control.dispatcher import Dispatcher
from edge_agent.control.gate import CommandGate, PersistentReplayGuard
from edge_agent.control.membership import ZoneMembership
from edge_agent.control.outbox import DiskOutbox
from edge_agent.device.health import CachedReading, clock_offset_ms, cpu_temp_c, disk_free_bytes
from edge_agent.device.problems import Problems
from edge_agent.playback.amplifier import Amplifier, GpiosetRelay, RelayBackend, SimulatedRelay, SysfsRelay
from edge_agent.playback.sinks import AudioSink, make_sink
from edge_agent.programme.fetch import AudioFetcher
from edge_agent.programme.player import Player
from edge_agent.programme.render import Renderer
from edge_agent.programme.scheduler import BulletinScheduler
from edge_agent.programme.store import BulletinStore
from edge_agent.programme.stream_relay import StreamRelay
from edge_agent.programme.windows import Programme
from edge_agent.version import AGENT_VERSION
from loaxa_common.aio import wait_event
from loaxa_common.lifecycle import Lifecycle, StopErrors, Supervised
from loaxa_contract import codec, signing, topics
from loaxa_contract.models import (
    AckStage,
    BulletinCommand,
    CameraHealth,
    CancelCommand,
    CommandBase,
    NodeHealth,
    NodeState,
    PingCommand,
    SetProgramScheduleCommand,
    SetVolumeCommand,
    SetZonesCommand,
    SnapshotCommand,
    utcnow,
)
from loaxa_link.mqtt import LinkConfig, LinkError, MqttLink
from loaxa_speech.audio import RenderOptions, check_audio
from loaxa_speech.tts.cache import TtsCache
from loaxa_speech.tts.engines.base import TtsEngine
from loaxa_speech.tts.registry import build_engine
from loaxa_speech.tts.service import SpeechService

if TYPE_CHECKING:
    from edge_agent.camera.monitor import CameraMonitor
    from edge_agent.camera.reporting import DetectionReporter

logger = logging.getLogger(__name__)

TAKEOVER_QUIET_S = 1800.0
"""A duplicate node id is no longer reported once the session has not been taken over for this long."""


def make_relay_backend(config: NodeConfig) -> RelayBackend:
    a = config.amplifier
    if a.backend == "gpioset":
        return GpiosetRelay(chip=a.chip, line=a.line, active_low=a.active_low)
    if a.backend == "sysfs":
        return SysfsRelay(line=a.line, active_low=a.active_low)
    return SimulatedRelay(log_path=a.log_file or config.state_dir / "relay.log")


def make_speech(config: NodeConfig, engines: list[TtsEngine] | None = None) -> SpeechService:
    t = config.tts
    chain = engines or [build_engine(name, t.engine_options.get(name)) for name in t.engines]
    return SpeechService(chain, cache=TtsCache(t.cache_dir, t.cache_max_mb * 1024 * 1024),
                         validate=check_audio, max_chunk_chars=t.max_chunk_chars)


def make_renderer(config: NodeConfig, speech: SpeechService) -> Renderer:
    a = config.audio
    fetcher = AudioFetcher(config.state_dir / "cache" / "audio", base_url=a.hq_url, timeout_s=a.fetch_timeout_s,
                           ca_bundle=str(a.hq_ca) if a.hq_ca else True)
    opts = RenderOptions(target_dbfs=a.target_dbfs, sample_rate=a.sample_rate, chime_before=a.chime_before,
                         chime_after=a.chime_after, chime_file=a.chime_file)
    return Renderer(speech, fetcher, opts, voice=config.tts.voice, rate_wpm=config.tts.rate_wpm)


class EdgeAgent:
    def __init__(self, config: NodeConfig, *, sink: AudioSink | None = None,
                 engines: list[TtsEngine] | None = None, relay_backend: RelayBackend | None = None) -> None:
        self.config = config
        node = config.node
        config.state_dir.mkdir(parents=True, exist_ok=True)
        self.started_monotonic = time.monotonic()
        self.membership = ZoneMembership(config.state_dir)
        self.zones = self.membership.effective(list(node.zones))  # HQ's assignment wins over the YAML claim
        self.state_topic = topics.node_state(node.commune, node.id)
        self.link = MqttLink(self._link_config(), on_message=self._on_message)
        self.link.on_connected = self._on_connected
        self.link.on_taken_over = self._session_taken_over
        self._last_takeover: float | None = None
        self._side_tasks: set[asyncio.Task[None]] = set()
        self.acks = AckReporter(node.id, topics.node_ack(node.commune, node.id), self.link.publish,
                                lambda: self.link.connected, outbox=DiskOutbox(config.state_dir / "outbox"),
                                health_topic=topics.node_health(node.commune, node.id))
        self.gate = CommandGate(
            node_id=node.id, zones=list(self.zones),
            public_key=signing.load_public_key(config.security.hq_public_key),
            replay=PersistentReplayGuard.load(config.state_dir / "replay.json"),
        )
        self.sink = sink or make_sink(config.audio.sink, file_dir=config.audio.file_dir,
                                      alsa_device=config.audio.alsa_device)
        self.relay_backend = relay_backend or make_relay_backend(config)
        self.amplifier = Amplifier(self.relay_backend, warmup_s=config.amplifier.warmup_s,
                                   hold_s=config.amplifier.hold_s)
        self.speech = make_speech(config, engines)
        self.renderer = make_renderer(config, self.speech)
        p = config.programme
        self.player = Player(
            renderer=self.renderer, sink=self.sink, amplifier=self.amplifier, acks=self.acks,
            store=BulletinStore(config.state_dir), state_dir=config.state_dir,
            programme=Programme(tuple(p.windows), p.quiet_start, p.quiet_end, p.timezone),
            relay=StreamRelay(self.sink), volume=config.audio.volume,
            misfire_grace_s=config.schedule.misfire_grace_s, lead_s=config.schedule.lead_s,
        )
        self.scheduler = BulletinScheduler(node.id, config.state_dir / "jobs.sqlite", self.player,
                                           timezone=p.timezone, misfire_grace_s=config.schedule.misfire_grace_s,
                                           lead_s=config.schedule.lead_s)
        self.player.scheduler = self.scheduler
        self.dispatcher = Dispatcher(self.gate, self.acks)
        self.dispatcher.register("bulletin", self._bulletin)
        self.dispatcher.register("cancel", self._cancel)
        self.dispatcher.register("ping", self._ping)
        self.dispatcher.register("set_volume", self._set_volume)
        self.dispatcher.register("set_program_schedule", self._set_programme)
        self.dispatcher.register("set_zones", self._set_zones)
        self.cameras: CameraMonitor | None = None
        self.detections: DetectionReporter | None = None
        if config.cameras:  # imported only here: OpenCV costs ~40 MB that speaker-only nodes don't pay
            from edge_agent.camera import CameraMonitor
            from edge_agent.camera.reporting import DetectionReporter, DetectionStore

            store = DetectionStore(config.state_dir / "camera-events")
            self.detections = DetectionReporter(node.id, node.commune, store, self.link.publish,
                                                lambda: self.link.connected, self.acks)
            self.dispatcher.register("detection_picture", self.detections.handle_picture, background=True)
            self.cameras = CameraMonitor(config.cameras, self._publish_camera, node=node.id,
                                         publish_interval_s=config.camera_report_interval_s,
                                         on_event=self.detections.on_event)
            self.dispatcher.register("snapshot", self._snapshot, background=True)
            from edge_agent.camera.live import LiveViews

            self.live_views = LiveViews(list(config.cameras), node.id, self.acks.ack)
            self.dispatcher.register("live_view", self.live_views.handle, background=True)
        self._clock_offset = CachedReading(clock_offset_ms, 300)
        self._health_due = asyncio.Event()
        self.problems = Problems()
        self.problems.on_change = self._health_due.set
        self.player.on_change = self._health_due.set
        self.player.on_worker_crash = self._worker_crashed
        self.acks.on_unreadable = lambda n, detail: self.problems.report(
            "outbox_unreadable", f"{n} stored message(s) moved to outbox/unreadable; last {detail}")
        self.amplifier.on_change.append(self._health_due.set)
        self._health_worker = Supervised(f"health:{node.id}", self._health_loop, self._worker_crashed)
        self._lifecycle = Lifecycle(f"edge agent {node.id}")
        self.after_idle: Callable[[], None] | None = None
        """Called after each health report while nothing plays (the CLI trims the heap here)."""

    def _state_payload(self, state: str) -> bytes:
        node = self.config.node
        return codec.encode(NodeState(node=node.id, state=state, kind=node.kind, agent_version=AGENT_VERSION,
                                      zones=list(self.zones), capabilities=sorted(self.dispatcher.handlers)))

    def _link_config(self) -> LinkConfig:
        b, node = self.config.broker, self.config.node
        return LinkConfig(
            host=b.host, port=b.port, client_id=f"loaxa-{node.commune}-{node.id}",
            username=b.username, password=self.config.broker_password(), keepalive=b.keepalive_s,
            session_expiry_s=b.session_expiry_s,
            tls_ca=str(b.tls.ca) if b.tls else None,
            tls_cert=str(b.tls.cert) if b.tls and b.tls.cert else None,
            tls_key=str(b.tls.key) if b.tls and b.tls.key else None,
            subscriptions=topics.node_command_filters(node.commune, node.id, list(self.zones)),
            manual_ack=True,  # a command is acknowledged to the broker once handled and recorded as seen
        )

    async def start(self) -> None:
        """Start every part in order; if one fails, the parts already started are stopped again."""
        lc = self._lifecycle
        await lc.enter("amplifier relay off", self.amplifier.force_off, None)  # whatever a crash left behind
        await lc.enter("job store", self.scheduler.start, self.scheduler.stop)
        await lc.enter("player", self.player.start, self.player.stop)
        await lc.enter("command handlers", None, self.dispatcher.stop)
        await lc.enter("mqtt link", self._start_link, self._stop_link)
        if self.cameras is not None:
            await lc.enter("cameras", self.cameras.start, self.cameras.stop)
        await lc.enter("health reports", self._health_worker.start, self._health_worker.stop)
        logger.info("edge agent %s started (commune %s, zones %s)", self.config.node.id,
                    self.config.node.commune, ",".join(self.zones) or "-")

    async def stop(self) -> None:
        """Stop in reverse order; the relay goes OFF whatever happens; failures raised together."""
        try:
            errors = await self._lifecycle.close()
        finally:
            await self.amplifier.force_off()
        if errors:
            raise StopErrors(errors)

    async def _start_link(self) -> None:
        self.link.set_will(self.state_topic, self._state_payload("offline"))
        self.link.config.birth = (self.state_topic, self._state_payload("online"))
        await self.link.start()

    async def _stop_link(self) -> None:
        await self.link.stop(final=(self.state_topic, self._state_payload("offline")))

    def _session_taken_over(self, count: int) -> None:
        """Another device connected with this node's id: say so (health, HQ alert, doctor), don't fight."""
        self._last_takeover = time.monotonic()
        self.problems.report("duplicate_node_id", f"another device uses node id {self.config.node.id}: the broker "
                                                  f"gave this node's session to it {count} time(s)")
        task = asyncio.get_running_loop().create_task(
            asyncio.to_thread(takeover.record, self.config.state_dir, count, utcnow()), name="takeover-record")
        self._side_tasks.add(task)
        task.add_done_callback(self._side_tasks.discard)

    def _clear_stale_takeover(self) -> None:
        if self._last_takeover is not None and time.monotonic() - self._last_takeover > TAKEOVER_QUIET_S:
            self._last_takeover = None
            self.problems.clear("duplicate_node_id")

    def _worker_crashed(self, name: str, err: BaseException, restarts: int) -> None:
        self.problems.report(f"worker_restarted:{name.split(':')[0]}",
                             f"{type(err).__name__}: {err} (restarted {restarts}x)")

    async def _on_connected(self, session_present: bool) -> None:
        await self.acks.flush()
        # off the loop: the clock reading runs chronyc/timedatectl (up to seconds on a busy board), and a
        # reconnect may come just before a synchronised start
        await self.acks.health(await asyncio.to_thread(self.health, reconcile=True))
        if self.detections is not None:  # events detected while offline
            await self.detections.flush()
        if self.cameras is not None:  # a status change made while offline must reach the police post now
            for report in self.cameras.all_health():
                await self._publish_camera(report)

    async def _on_message(self, topic: str, payload: bytes) -> None:
        await self.dispatcher.handle(topic, payload)

    # ------------------------------------------------------------------ command handlers

    async def _bulletin(self, command: CommandBase) -> None:
        assert isinstance(command, BulletinCommand)
        if self.config.node.kind == "camera":  # reached through a zone or `all` topic: nothing to play it on
            logger.warning("bulletin %s refused: this is a camera-only node", command.bulletin_id)
            await self.acks.ack(command.id, AckStage.REJECTED, bulletin_id=command.bulletin_id, reason="not_a_speaker",
                                detail="camera-only node: no loudspeaker")
            return
        if await self.player.renew(command):  # HQ extending a series this node already holds
            return
        await self.player.submit(command)

    async def _cancel(self, command: CommandBase) -> None:
        assert isinstance(command, CancelCommand)
        if await self.player.cancel(command.bulletin_id):
            await self.acks.ack(command.id, AckStage.CANCELLED, bulletin_id=command.bulletin_id,
                                detail="cancel applied")
        else:
            await self.acks.ack(command.id, AckStage.FAILED, bulletin_id=command.bulletin_id,
                                reason="unknown_bulletin", detail="nothing queued, scheduled or playing with this id")

    async def _ping(self, command: CommandBase) -> None:
        assert isinstance(command, PingCommand)
        await self.acks.ack(command.id, AckStage.PONG)

    async def _set_volume(self, command: CommandBase) -> None:
        assert isinstance(command, SetVolumeCommand)
        await asyncio.to_thread(self.player.set_volume, command.volume)
        await self.acks.ack(command.id, AckStage.PLAYED, detail=f"volume {command.volume}%")

    async def _set_programme(self, command: CommandBase) -> None:
        assert isinstance(command, SetProgramScheduleCommand)
        await self.player.set_programme(command)
        await self.acks.ack(command.id, AckStage.PLAYED,
                            detail=f"{len(command.windows)} window(s), quiet {command.quiet_start}-{command.quiet_end}")

    async def _set_zones(self, command: CommandBase) -> None:
        """HQ's zone assignment: persist it, then listen to exactly those zones and say so in the retained state."""
        assert isinstance(command, SetZonesCommand)
        zones, node = list(command.zones), self.config.node
        await asyncio.to_thread(self.membership.save, zones, command.id)
        before, self.zones = self.zones, zones
        self.gate.zones = list(zones)
        self.link.set_will(self.state_topic, self._state_payload("offline"))  # for the next connection
        self.link.config.birth = (self.state_topic, self._state_payload("online"))
        try:  # the new list is kept for every reconnect even if the link drops half-way
            await self.link.set_subscriptions(topics.node_command_filters(node.commune, node.id, zones))
            if self.link.connected:
                await self.link.publish(self.state_topic, self._state_payload("online"), retain=True)
        except LinkError as err:
            logger.warning("zones %s stored; subscriptions complete at the next connection (%s)", zones, err)
        logger.info("zones set by HQ: %s (were %s)", ",".join(zones) or "-", ",".join(before) or "-")
        await self.acks.ack(command.id, AckStage.PLAYED, detail=f"zones {','.join(zones) or '-'}")

    async def _snapshot(self, command: CommandBase) -> None:
        assert isinstance(command, SnapshotCommand) and self.cameras is not None
        from edge_agent.camera import SnapshotError, UnknownCamera, UploadError, upload_snapshot

        await self.acks.ack(command.id, AckStage.RECEIVED, detail=f"snapshot of {command.camera}")
        if not command.upload_url:
            await self.acks.ack(command.id, AckStage.FAILED, reason="no_upload_url",
                                detail="snapshot command carries no upload_url")
            return
        try:
            jpeg = await self.cameras.snapshot(command.camera)
            await upload_snapshot(command.upload_url, jpeg, camera=command.camera, node=self.config.node.id)
        except UnknownCamera:
            await self.acks.ack(command.id, AckStage.FAILED, reason="unknown_camera",
                                detail=f"this node has no camera {command.camera!r}")
        except (SnapshotError, UploadError) as err:
            reason = "upload_failed" if isinstance(err, UploadError) else "snapshot_failed"
            await self.acks.ack(command.id, AckStage.FAILED, reason=reason, detail=str(err))
        else:
            await self.acks.ack(command.id, AckStage.PLAYED, detail=f"snapshot {len(jpeg)} bytes uploaded")

    async def _publish_camera(self, report: CameraHealth) -> None:
        """Camera health is retained state: when offline it is skipped, and republished on reconnect."""
        if not self.link.connected:
            return
        topic = topics.camera_health(self.config.node.commune, self.config.node.id, report.camera)
        try:
            await self.link.publish(topic, codec.encode(report), retain=True)
        except LinkError as err:
            logger.info("camera %s health not sent (%s); resent on reconnect", report.camera, err)

    # ------------------------------------------------------------------ health

    def health(self, *, reconcile: bool = False) -> NodeHealth:
        cache = self.speech.cache
        offset = self._clock_offset.get()[0]
        return NodeHealth(
            node=self.config.node.id, uptime_s=round(time.monotonic() - self.started_monotonic, 1),
            relay_on=self.amplifier.on, volume=self.player.volume, audio_device_ok=self.sink.available()[0],
            queue_length=self.player.queue_length + self.scheduler.job_count(), playing=self.player.playing,
            cache_bytes=((cache.size_bytes() if cache else 0) + self.renderer.fetcher.size_bytes()
                         + self.player.ready.size_bytes()),
            disk_free_bytes=disk_free_bytes(self.config.state_dir), cpu_temp_c=cpu_temp_c(),
            clock_offset_ms=offset, agent_version=AGENT_VERSION,
            bulletins=self.player.held()[:1000] if reconcile else None,
            programme_id=self.player.programme.source_id, problems=self.problems.snapshot(),
        )

    async def _health_loop(self) -> None:
        interval = self.config.health_interval_s
        while True:
            await wait_event(self._health_due, interval)
            await asyncio.sleep(0.2)
            self._clear_stale_takeover()  # debounce a burst of changes into one report
            self._health_due.clear()
            try:
                report = await asyncio.to_thread(self.health)
                await self.acks.health(report)
                if self.after_idle is not None and self.player.playing is None:
                    self.after_idle()
            except Exception:
                logger.exception("health report failed")
