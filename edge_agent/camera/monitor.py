"""Camera monitor: one worker per camera, status changes and periodic reports through ``publish``.

Each worker samples its camera every ``sample_interval_s`` (every ``confirm_interval_s`` while a new
status awaits confirmation, so hysteresis does not slow alerts much). OpenCV calls block, so they run
in a thread pool owned by the monitor with one thread per camera plus spares: a dead camera ties up
only its own thread and never delays the others (the default asyncio pool has only cpu+4 threads).
A capture that outlives its hard deadline is reported offline and left to finish; the worker does not
start another until it has.

Cameras with ``detection`` settings also run motion / people detection on the frames each sample
reads (:mod:`edge_agent.camera.detector`), in the same capture thread; while detection is active the
camera is sampled every ``detection.sample_interval_s``. Confirmed events go to ``on_event``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from urllib.parse import urlsplit

import numpy as np

from edge_agent.camera.capture import (
    CameraError,
    CaptureResult,
    configure_ffmpeg,
    encode_jpeg,
    grab_frame,
    sample_camera,
)
from edge_agent.camera.config import CameraConfig
from edge_agent.camera.detector import CameraDetector, DetectedEvent
from edge_agent.camera.health import Gray, HealthTracker, Sample
from loaxa_common.aio import cancel_all
from loaxa_contract.models import CameraHealth

logger = logging.getLogger(__name__)

Publish = Callable[[CameraHealth], Awaitable[None]]
OnEvent = Callable[[DetectedEvent], Awaitable[None]]


class UnknownCamera(CameraError, KeyError):
    """No camera with that id is configured."""


class SnapshotError(CameraError):
    """No snapshot could be taken (camera offline, timeout, encoding)."""


async def probe(cfg: CameraConfig) -> str | None:
    """Cheap asyncio check that the camera answers at all; an error message, or None when it does.

    OpenCV serialises ``VideoCapture`` opens with a process-wide mutex, so a silent camera inside
    OpenCV would hold up every other camera's open for ``open_timeout_s``. Refused and silent peers
    are therefore caught here, on the event loop, before OpenCV is called, within ``probe_timeout_s``.
    """
    parts = urlsplit(cfg.url)
    port = parts.port or {"rtsp": 554, "rtsps": 322, "http": 80, "https": 443}[parts.scheme]
    host = parts.hostname or ""
    writer = None
    try:
        async with asyncio.timeout(cfg.probe_timeout_s):
            reader, writer = await asyncio.open_connection(host, port)
            if parts.scheme == "rtsp":
                writer.write(f"OPTIONS {cfg.url} RTSP/1.0\r\nCSeq: 1\r\nUser-Agent: loaxa\r\n\r\n".encode())
                want = b"RTSP/"
            elif parts.scheme == "http":
                path = parts.path or "/"
                if parts.query:
                    path += "?" + parts.query
                writer.write(f"GET {path} HTTP/1.1\r\nHost: {parts.netloc}\r\nConnection: close\r\n\r\n".encode())
                want = b"HTTP/"
            else:
                return None  # TLS: a TCP connect is all we check here
            line = await reader.readline()
            if not line.startswith(want):
                return f"{cfg.safe_url} answered {line[:40]!r}, not {want.decode()}"
            return None
    except TimeoutError:
        return f"{cfg.safe_url} did not answer within {cfg.probe_timeout_s:g} s"
    except OSError as err:
        return f"cannot connect to {cfg.safe_url}: {err.strerror or type(err).__name__}"
    finally:
        if writer is not None:
            writer.close()


def sample_and_detect(cfg: CameraConfig, previous: Gray | None,
                      detector: CameraDetector | None) -> tuple[CaptureResult, list[DetectedEvent]]:
    """One sample in the capture thread, with detection on its frames when the camera has it (and is active)."""
    at = datetime.now(UTC)
    if detector is None or not detector.begin(at):
        return sample_camera(cfg, previous), []
    result = sample_camera(cfg, previous, detector.observe)
    if not result.sample.reachable:
        detector.fail()
        return result, []
    return result, detector.finish(at)


def _deadline(cfg: CameraConfig) -> float:
    """Hard limit on one sample: open + every read at their timeouts, plus a margin."""
    return cfg.open_timeout_s + cfg.read_timeout_s * (cfg.frames_per_sample + 1) + 5.0


class _Worker:
    def __init__(self, cfg: CameraConfig, monitor: CameraMonitor) -> None:
        self.cfg = cfg
        self.monitor = monitor
        self.tracker = HealthTracker(cfg=cfg, since=datetime.now(UTC))
        self.lock = asyncio.Lock()  # one session at a time: cheap cameras allow 2-4 RTSP clients
        self.previous_gray: np.ndarray | None = None
        self.hung: Future[tuple[CaptureResult, list[DetectedEvent]]] | None = None
        self.samples = 0
        self.detector = CameraDetector(cfg) if cfg.detection is not None else None

    def delay(self) -> float:
        """Seconds to the next sample: faster while a status awaits confirmation or detection is active."""
        delay = self.cfg.confirm_interval_s if self.tracker.pending else self.cfg.sample_interval_s
        if self.detector is not None and self.detector.active_at(datetime.now(UTC)):
            assert self.cfg.detection is not None
            delay = min(delay, self.cfg.detection.sample_interval_s)
        return delay

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            try:
                await self.sample_once()
            except Exception:
                logger.exception("camera %s: sample failed", self.cfg.id)
            await asyncio.sleep(max(0.0, started + self.delay() - loop.time()))

    async def _capture(self) -> tuple[Sample, list[DetectedEvent]]:
        cfg = self.cfg
        if self.hung is not None and not self.hung.done():
            return Sample.offline(datetime.now(UTC), "previous capture still hung"), []
        self.hung = None
        error = await probe(cfg)
        if error is not None:
            if self.detector is not None:
                self.detector.fail()  # no capture thread is using it: the previous one has ended
            return Sample.offline(datetime.now(UTC), error), []
        future = self.monitor.executor.submit(sample_and_detect, cfg, self.previous_gray, self.detector)
        try:
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for drops a cancel that lands as the capture
            # ends, the worker loop then outlives stop() and stop() waits forever (loaxa_common.aio)
            async with asyncio.timeout(_deadline(cfg)):
                result, events = await asyncio.wrap_future(future)
        except TimeoutError:
            self.hung = future
            logger.warning("camera %s: capture of %s hung beyond %.0f s", cfg.id, cfg.safe_url, _deadline(cfg))
            return Sample.offline(datetime.now(UTC), "capture hung"), []
        self.previous_gray = result.last_gray
        return result.sample, events

    async def sample_once(self) -> None:
        async with self.lock:
            sample, events = await self._capture()
        for event in events:
            logger.info("camera %s: %s event, score %.2f, %d box(es)", self.cfg.id, event.kind, event.score,
                        len(event.boxes))
            await self.monitor.emit_event(event)
        self.samples += 1
        before = self.tracker.status
        if self.tracker.update(sample):
            logger.info(
                "camera %s: %s -> %s (%s)",
                self.cfg.id,
                before.value,
                self.tracker.status.value,
                self.cfg.redact(self.tracker.detail),
            )
            await self.monitor.emit(self.health())

    def health(self) -> CameraHealth:
        return self.tracker.health(self.cfg.id, self.monitor.node, self.cfg.name)

    async def snapshot(self, quality: int) -> bytes:
        cfg = self.cfg

        def grab() -> bytes:
            return encode_jpeg(grab_frame(cfg), quality)

        error = await probe(cfg)
        if error is not None:
            raise SnapshotError(f"camera {cfg.id}: {error}")
        async with self.lock:
            future = self.monitor.executor.submit(grab)
            try:
                async with asyncio.timeout(cfg.open_timeout_s + cfg.read_timeout_s + 5):
                    return await asyncio.wrap_future(future)
            except TimeoutError:
                raise SnapshotError(f"camera {cfg.id}: snapshot timed out") from None
            except CameraError as err:
                raise SnapshotError(f"camera {cfg.id}: {cfg.redact(str(err))}") from None


class CameraMonitor:
    """Watches cameras and reports their :class:`CameraHealth` through ``publish``.

    ``publish`` is awaited on every status change and every ``publish_interval_s`` for every camera
    (the lead wires it to the retained MQTT topic ``camera/{camera}/health``). Use as
    ``async with CameraMonitor(...)`` or call :meth:`start` / :meth:`stop`.
    """

    def __init__(
        self,
        cameras: Sequence[CameraConfig],
        publish: Publish,
        *,
        node: str,
        publish_interval_s: float = 60.0,
        snapshot_quality: int = 85,
        on_event: OnEvent | None = None,
    ) -> None:
        ids = [c.id for c in cameras]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"duplicate camera ids: {', '.join(dupes)}")
        if publish_interval_s <= 0:
            raise ValueError("publish_interval_s must be > 0")
        self.node = node
        self.publish = publish
        self.publish_interval_s = publish_interval_s
        self.snapshot_quality = snapshot_quality
        self.on_event = on_event
        self.workers = {c.id: _Worker(c, self) for c in cameras}
        self.executor = ThreadPoolExecutor(max_workers=2 * len(cameras) + 2, thread_name_prefix="camera")
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        if self._tasks:
            return
        configure_ffmpeg()
        for cam_id, worker in self.workers.items():
            self._tasks.append(asyncio.create_task(worker.run(), name=f"camera:{cam_id}"))
        self._tasks.append(asyncio.create_task(self._periodic(), name="camera:periodic"))
        logger.info("camera monitor started for %d cameras", len(self.workers))

    async def stop(self) -> None:
        for error in await cancel_all(self._tasks, timeout=10.0):
            logger.error("camera monitor: %s", error)
        self._tasks.clear()
        # Do not wait for a hung OpenCV call: its thread ends at its own timeout.
        self.executor.shutdown(wait=False, cancel_futures=True)

    async def __aenter__(self) -> CameraMonitor:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def emit(self, health: CameraHealth) -> None:
        try:
            await self.publish(health)
        except Exception:
            logger.exception("camera %s: publish failed", health.camera)

    async def emit_event(self, event: DetectedEvent) -> None:
        if self.on_event is None:
            return
        try:
            await self.on_event(event)
        except Exception:
            logger.exception("camera %s: %s event not handed on", event.camera, event.kind)

    async def _periodic(self) -> None:
        while True:
            await asyncio.sleep(self.publish_interval_s)
            for worker in self.workers.values():
                if worker.samples:
                    await self.emit(worker.health())

    def _worker(self, camera_id: str) -> _Worker:
        try:
            return self.workers[camera_id]
        except KeyError:
            raise UnknownCamera(f"no camera {camera_id!r} on this node") from None

    def health(self, camera_id: str) -> CameraHealth:
        """Current reported health of one camera (``unknown`` before its first sample)."""
        return self._worker(camera_id).health()

    def all_health(self) -> list[CameraHealth]:
        return [w.health() for w in self.workers.values()]

    async def snapshot(self, camera_id: str) -> bytes:
        """A fresh JPEG of ``camera_id``; :class:`UnknownCamera` or :class:`SnapshotError` otherwise."""
        return await self._worker(camera_id).snapshot(self.snapshot_quality)
