"""OpenCV I/O: open a stream with hard timeouts, read a few frames, measure, close.

Every function here blocks; the monitor runs them in its own thread pool. Timeouts are passed to the
``VideoCapture`` constructor because, with opencv-python 5.0, setting them afterwards has no effect
(a silent peer would block ``open`` for 30 s and a frozen RTSP server ~60 s).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import cv2
import numpy as np

from edge_agent.camera.config import CameraConfig
from edge_agent.camera.health import Gray, Sample, analyse_frames, stream_fps, to_gray
from edge_agent.camera.regions import black_out

logger = logging.getLogger(__name__)

#: RTSP over TCP (no lost UDP packets behind NAT), no input buffering, 0.5 s of probing. An RTSP open takes
#: about analyzeduration + 0.2 s (measured: 5 s default ~3 s, 1 s 1.2 s, 0.5 s 0.7 s) and OpenCV holds a
#: process-wide mutex for the whole open, so this bounds how many RTSP cameras one node can sample.
DEFAULT_CAPTURE_OPTIONS = "rtsp_transport;tcp|fflags;nobuffer|analyzeduration;500000"
#: Frames arriving faster than this after the previous one were buffered, not live: not used for fps.
_BURST_S = 0.004


class CameraError(Exception):
    """Base of the camera package's errors; messages never carry credentials."""


class CaptureError(CameraError):
    """A stream could not be opened or gave no frame."""


def configure_ffmpeg() -> None:
    """Process-wide FFmpeg options for OpenCV (env vars read at each open); an operator's values win."""
    os.environ.setdefault("OPENCV_FFMPEG_CAPTURE_OPTIONS", DEFAULT_CAPTURE_OPTIONS)
    # FFmpeg's own chatter (one line per failed open per camera per sample) is silenced; our log says it.
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "8")


def open_capture(cfg: CameraConfig) -> cv2.VideoCapture:
    params = [
        cv2.CAP_PROP_OPEN_TIMEOUT_MSEC,
        int(cfg.open_timeout_s * 1000),
        cv2.CAP_PROP_READ_TIMEOUT_MSEC,
        int(cfg.read_timeout_s * 1000),
    ]
    try:
        cap = cv2.VideoCapture(cfg.open_url(), cv2.CAP_FFMPEG, params)
    except cv2.error as err:  # the message may quote the URL: translate it, redacted
        raise CaptureError(cfg.redact(f"cannot open {cfg.safe_url}: {err}")) from None
    if not cap.isOpened():
        cap.release()
        raise CaptureError(f"cannot open {cfg.safe_url} (refused, unreachable or timed out)")
    return cap


@dataclass
class CaptureResult:
    sample: Sample
    last_gray: Gray | None  # kept by the worker for the next sample's frozen test
    last_frame: np.ndarray | None  # full-size BGR, for a snapshot


def measure_fps(arrivals: list[float]) -> float | None:
    """Frames per second from arrival times, skipping the leading burst of buffered frames."""
    start = 1  # the first frame's arrival includes the open
    while start < len(arrivals) - 1 and arrivals[start] - arrivals[start - 1] < _BURST_S:
        start += 1
    live = arrivals[start - 1 :]
    if len(live) < 3 or live[-1] <= live[0]:
        return None
    return (len(live) - 1) / (live[-1] - live[0])


#: Schemes whose frames carry the camera's own timestamps (RTP). FFmpeg invents them for MJPEG over HTTP
#: (40 ms per frame whatever the real rate), so those are not read.
_CLOCKED_SCHEMES = ("rtsp://", "rtsps://")


def has_stream_clock(url: str) -> bool:
    """True when the stream's frame timestamps are the camera's (RTSP), so they measure its frame rate."""
    return url.lower().startswith(_CLOCKED_SCHEMES)


def _runqueue_s() -> float | None:
    """Seconds this thread has waited for a CPU (Linux schedstat), or None where the kernel does not say."""
    try:
        with open("/proc/thread-self/schedstat", encoding="ascii") as f:
            return int(f.read().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return None


class ReadTimer:
    """How long the reader waited for the camera's data: the wall time of each read less the time the
    thread spent on a CPU or (where the kernel says) waiting for one; the first read, which includes the
    open, is not counted.

    A slow camera keeps the reader waiting; a reader short of CPU (or slowed by its own per-frame work)
    finds every frame already in the socket, so this stays near zero — what tells them apart when the
    stream has no timestamps of its own (:func:`edge_agent.camera.health.judge_fps`). Without the
    kernel's run-queue figure, CPU starvation counts as waiting: the camera is then judged as before.
    """

    def __init__(self) -> None:
        self.waited = 0.0
        self.reads = 0

    def read(self, cap: cv2.VideoCapture) -> tuple[bool, np.ndarray | None]:
        w0, c0, r0 = time.monotonic(), time.thread_time(), _runqueue_s()
        ok, img = cap.read()
        w1, c1, r1 = time.monotonic(), time.thread_time(), _runqueue_s()
        if self.reads:
            starved = r1 - r0 if r0 is not None and r1 is not None else 0.0
            self.waited += max(0.0, (w1 - w0) - (c1 - c0) - starved)
        self.reads += 1
        return ok, img

    def idle_share(self, span_s: float) -> float | None:
        """Share of ``span_s`` (first to last arrival) spent waiting for data; None with too few reads."""
        if span_s <= 0 or self.reads < 3:
            return None
        return min(1.0, self.waited / span_s)


Observer = Callable[[np.ndarray, Gray], None]
"""Called with each decoded frame (BGR, privacy masks blacked out) and its analysis grey image."""


def sample_camera(cfg: CameraConfig, previous: Gray | None, observe: Observer | None = None) -> CaptureResult:
    """One sample: open, time the first frame, read ``frames_per_sample`` frames, compute metrics.

    Privacy masks are blacked out on each frame as soon as it is decoded, before health analysis and
    ``observe`` (detection) see it.
    """
    at = datetime.now(UTC)
    t0 = time.monotonic()
    try:
        cap = open_capture(cfg)
    except CaptureError as err:
        return CaptureResult(Sample.offline(at, str(err)), None, None)
    try:
        grays: list[Gray] = []
        arrivals: list[float] = []
        clocked = has_stream_clock(cfg.url)
        stamps: list[float | None] = []  # the stream's own timestamps (ms), when it has a clock
        frame = None
        timer = ReadTimer()
        for _ in range(cfg.frames_per_sample):
            ok, img = timer.read(cap)
            if not ok or img is None:
                break
            arrivals.append(time.monotonic())
            if clocked:  # OpenCV says 0 for a frame without a timestamp
                stamps.append(float(cap.get(cv2.CAP_PROP_POS_MSEC)) or None)
            frame = black_out(img, cfg.privacy_masks)
            grays.append(to_gray(img, cfg.analysis_width))
            if observe is not None:
                observe(img, grays[-1])
    finally:
        cap.release()
    if frame is None:
        return CaptureResult(
            Sample.offline(at, f"opened {cfg.safe_url} but no frame within {cfg.read_timeout_s:g} s"), None, None
        )
    analysis = analyse_frames(
        grays, previous, motion_width=cfg.motion_width, pixel_delta=cfg.thresholds.motion_pixel_delta
    )
    metrics = analysis.metrics
    h, w = frame.shape[:2]
    sample = Sample(
        at=at,
        reachable=True,
        error=None if len(grays) == cfg.frames_per_sample else f"stream stopped after {len(grays)} frames",
        first_frame_ms=(arrivals[0] - t0) * 1000,
        fps=measure_fps(arrivals),
        stream_fps=stream_fps(stamps) if clocked else None,
        reader_idle=timer.idle_share(arrivals[-1] - arrivals[0]),
        width=w,
        height=h,
        brightness=metrics.brightness,
        contrast=metrics.contrast,
        sharpness=metrics.sharpness,
        frame_diff=analysis.frame_diff,
        motion=analysis.motion,
        frames=len(grays),
        last_frame_at=at + timedelta(seconds=arrivals[-1] - t0),
    )
    return CaptureResult(sample, grays[-1], frame)


def grab_frame(cfg: CameraConfig) -> np.ndarray:
    """One current frame (BGR, privacy masks blacked out), or :class:`CaptureError`."""
    cap = open_capture(cfg)
    try:
        ok, img = cap.read()
    finally:
        cap.release()
    if not ok or img is None:
        raise CaptureError(f"opened {cfg.safe_url} but no frame within {cfg.read_timeout_s:g} s")
    return black_out(img, cfg.privacy_masks)


def encode_jpeg(frame: np.ndarray, quality: int = 85) -> bytes:
    ok, buf = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise CaptureError("JPEG encoding failed")
    return buf.tobytes()
