"""On-demand live view: a camera's picture pushed to HQ at a low rate for a few minutes, sized for 4G.

HQ sends a signed ``live_view`` command (camera, one-time ``upload_url``, duration, fps, width, quality).
The node opens the camera itself — its address and credentials never leave the node — and a capture
thread keeps reading so the newest frame is always at hand (an RTSP stream read slower than it plays
would lag ever further behind). Every ``1/fps`` seconds the newest frame is shrunk to ``width``, privacy
masks blacked out, JPEG-encoded and POSTed to HQ as one request. HQ relays it to the browsers watching.

Why one request per frame rather than one endless upload: HQ's answer to each frame says whether to go
on (``200``) or stop (``410``: the view ended, nobody watches, time is up), so the node stops sending
within one frame of HQ deciding; a frame lost on a flaky 4G link costs one frame, not the stream; and
the requests reuse one keep-alive connection, so the overhead is a few hundred bytes per frame.

The view ends at ``duration_s``, when HQ says so, after ``MAX_FAILURES`` failed uploads in a row, or when
the camera gives no frame. The capture uses its own stream session, alongside the health sampling
(cheap cameras allow 2–4 RTSP sessions).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import aiohttp
import cv2
import numpy as np

from edge_agent.camera.capture import CaptureError, encode_jpeg, open_capture
from edge_agent.camera.config import CameraConfig
from edge_agent.camera.regions import black_out
from edge_agent.camera.snapshot import safe_upload_url
from loaxa_contract.models import AckStage, CommandBase, LiveViewCommand

logger = logging.getLogger(__name__)

Ack = Callable[..., Awaitable[object]]
"""``ack(command_id, stage, *, reason=None, detail=None)``: the agent's ack reporter."""

MAX_FAILURES = 5
"""Uploads failing in a row (network) before the node gives up the view."""
STOP_STATUSES = frozenset({401, 403, 404, 410})
"""HQ's answers meaning "stop": the view ended, or the upload URL is not (or no longer) valid."""


@dataclass
class LiveResult:
    frames: int
    bytes: int
    reason: str  # why it stopped: duration, stopped_by_hq, camera_failed, upload_failed, replaced (a newer view)


def shrink(frame: np.ndarray, width: int) -> np.ndarray:
    """``frame`` scaled down to ``width`` pixels wide (never up), keeping its ratio (area averaging)."""
    h, w = frame.shape[:2]
    if w <= width:
        return frame
    return cv2.resize(frame, (width, max(1, round(h * width / w))), interpolation=cv2.INTER_AREA)


class FrameGrabber:
    """A thread that keeps reading one camera and holds its newest frame (privacy masks already black)."""

    def __init__(self, cfg: CameraConfig) -> None:
        self.cfg = cfg
        self._latest: np.ndarray | None = None
        self._count = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.error: str | None = None
        self._thread = threading.Thread(target=self._run, name=f"live:{cfg.id}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def latest(self) -> tuple[int, np.ndarray | None]:
        with self._lock:
            return self._count, self._latest

    def _run(self) -> None:
        try:
            cap = open_capture(self.cfg)
        except CaptureError as err:
            self.error = str(err)
            return
        try:
            while not self._stop.is_set():
                ok, img = cap.read()
                if not ok or img is None:
                    self.error = f"{self.cfg.safe_url} stopped sending frames"
                    return
                frame = black_out(img, self.cfg.privacy_masks)
                with self._lock:
                    self._latest, self._count = frame, self._count + 1
        finally:
            cap.release()


class LiveStreamer:
    """Runs one live view: grab, shrink, encode and upload frames until the view ends."""

    def __init__(self, cfg: CameraConfig, node: str, *, upload_url: str, duration_s: float, fps: float, width: int,
                 quality: int, session: aiohttp.ClientSession | None = None, first_frame_s: float = 10.0,
                 stop: asyncio.Event | None = None) -> None:
        self.cfg = cfg
        self.node = node
        self.url = upload_url
        self.duration_s = duration_s
        self.interval = 1.0 / fps
        self.width = width
        self.quality = quality
        self.session = session
        self.first_frame_s = first_frame_s
        self.stop = stop or asyncio.Event()

    async def _first_frame(self, grabber: FrameGrabber) -> bool:
        deadline = time.monotonic() + self.first_frame_s
        while time.monotonic() < deadline and grabber.alive:
            if grabber.latest()[1] is not None:
                return True
            await asyncio.sleep(0.05)
        return grabber.latest()[1] is not None

    async def _post(self, client: aiohttp.ClientSession, jpeg: bytes, number: int) -> int | None:
        """HQ's status for one frame, or None when the upload failed (network, timeout)."""
        headers = {"Content-Type": "image/jpeg", "X-LoaXa-Camera": self.cfg.id, "X-LoaXa-Node": self.node,
                   "X-LoaXa-Frame": str(number)}
        try:
            async with client.post(self.url, data=jpeg, headers=headers,
                                   timeout=aiohttp.ClientTimeout(total=max(5.0, 4 * self.interval))) as resp:
                await resp.read()
                return resp.status
        except (aiohttp.ClientError, TimeoutError) as err:
            logger.info("camera %s: live frame %d not delivered to %s (%s)", self.cfg.id, number,
                        safe_upload_url(self.url), type(err).__name__)
            return None

    async def run(self) -> LiveResult:
        grabber = FrameGrabber(self.cfg)
        grabber.start()
        own = self.session is None
        client = self.session or aiohttp.ClientSession()
        sent = size = failures = 0
        last_count = -1
        try:
            if not await self._first_frame(grabber):
                logger.warning("camera %s: live view has no picture: %s", self.cfg.id,
                               self.cfg.redact(grabber.error or "no frame"))
                return LiveResult(0, 0, "camera_failed")
            loop = asyncio.get_running_loop()
            end = loop.time() + self.duration_s
            while loop.time() < end:
                if self.stop.is_set():
                    return LiveResult(sent, size, "replaced")
                tick = loop.time()
                count, frame = grabber.latest()
                if not grabber.alive and count == last_count:
                    return LiveResult(sent, size, "camera_failed")
                if frame is not None and count != last_count:
                    last_count = count
                    jpeg = await asyncio.to_thread(lambda f=frame: encode_jpeg(shrink(f, self.width), self.quality))
                    status = await self._post(client, jpeg, sent + 1)
                    if status is not None and status in STOP_STATUSES:
                        return LiveResult(sent, size, "stopped_by_hq")
                    if status is None or status >= 300:
                        failures += 1
                        if failures >= MAX_FAILURES:
                            return LiveResult(sent, size, "upload_failed")
                    else:
                        failures, sent, size = 0, sent + 1, size + len(jpeg)
                await asyncio.sleep(max(0.0, tick + self.interval - loop.time()))
            return LiveResult(sent, size, "duration")
        finally:
            grabber.stop()
            if own:
                with contextlib.suppress(Exception):
                    await client.close()
            logger.info("camera %s: live view ended after %d frame(s), %d bytes", self.cfg.id, sent, size)


class LiveViews:
    """The node's handler of ``live_view`` commands (run in the dispatcher's background): one view per camera,
    a newer command for the same camera replaces the running one. Acks: ``received`` when it starts,
    ``played`` when it ends normally (frames, bytes, why), ``failed`` with a reason when it could not show
    anything (``unknown_camera``, ``camera_failed``, ``upload_failed``)."""

    def __init__(self, cameras: list[CameraConfig], node: str, ack: Ack) -> None:
        self.cameras = {c.id: c for c in cameras}
        self.node = node
        self.ack = ack
        self.running: dict[str, asyncio.Event] = {}

    async def handle(self, command: CommandBase) -> None:
        assert isinstance(command, LiveViewCommand)
        cfg = self.cameras.get(command.camera)
        if cfg is None:
            await self.ack(command.id, AckStage.FAILED, reason="unknown_camera",
                           detail=f"this node has no camera {command.camera!r}")
            return
        if (previous := self.running.get(cfg.id)) is not None:
            previous.set()
        stop = self.running[cfg.id] = asyncio.Event()
        await self.ack(command.id, AckStage.RECEIVED, detail=f"live view of {cfg.id}: {command.width} px, "
                       f"{command.fps:g} fps, {command.duration_s:g} s")
        try:
            result = await LiveStreamer(cfg, self.node, upload_url=command.upload_url,
                                        duration_s=command.duration_s, fps=command.fps, width=command.width,
                                        quality=command.quality, stop=stop).run()
        finally:
            if self.running.get(cfg.id) is stop:
                del self.running[cfg.id]
        detail = f"{result.frames} frame(s), {result.bytes} bytes, ended: {result.reason}"
        if result.frames == 0 and result.reason in ("camera_failed", "upload_failed"):
            await self.ack(command.id, AckStage.FAILED, reason=result.reason, detail=detail)
        else:
            await self.ack(command.id, AckStage.PLAYED, detail=detail)
