"""Pure camera health: frames → metrics → raw status → reported status with hysteresis.

Nothing here touches the network or a clock: the monitor feeds :class:`Sample` objects (built by
:func:`analyse_frames` from decoded frames) into a :class:`HealthTracker`, and tests feed synthetic
samples. Metrics are computed on a grey image no wider than ``analysis_width`` so their cost and their
scale do not depend on the camera resolution.

Frozen is decided by *motion*, not by the mean frame difference: a still picture re-encoded by H.264
(every RTSP camera) differs from frame to frame by codec noise, up to 0.35 grey levels of mean absolute
difference at 320 px, more than some pairs of a healthy 720p scene whose noise the encoder removed (0.09).
On a ``motion_width`` (160 px) image blurred 3x3, codec noise moves no pixel by more than 1 grey level,
while anything that really moves changes pixels by tens of levels; so the frozen test counts the
percentage of pixels that changed by more than ``motion_pixel_delta`` (see docs/camera.md for figures).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

import cv2
import numpy as np

from edge_agent.camera.config import CameraConfig
from loaxa_contract.models import CameraHealth, CameraStatus

Gray = np.ndarray  # 2-D uint8


@dataclass(frozen=True)
class FrameMetrics:
    brightness: float  # mean grey level 0-255
    contrast: float  # standard deviation of grey levels
    sharpness: float  # variance of the Laplacian


@dataclass(frozen=True)
class Sample:
    """What one sampling of one camera saw."""

    at: datetime
    reachable: bool
    error: str | None = None
    first_frame_ms: float | None = None
    fps: float | None = None  # from the arrival times of the frames this node read (its reading pace)
    stream_fps: float | None = None  # from the stream's own timestamps (the camera's pace); None without them
    reader_idle: float | None = None  # share of the reading time spent waiting for the camera's data
    width: int | None = None
    height: int | None = None
    brightness: float | None = None
    contrast: float | None = None
    sharpness: float | None = None
    frame_diff: float | None = None  # largest mean |Δgrey| between consecutive frames (incl. previous sample)
    motion: float | None = None  # largest % of motion-image pixels changed between consecutive frames (same pairs)
    frames: int = 0
    last_frame_at: datetime | None = None

    @classmethod
    def offline(cls, at: datetime, error: str) -> Sample:
        return cls(at=at, reachable=False, error=error)


def to_gray(frame: np.ndarray, analysis_width: int) -> Gray:
    """Grey image, shrunk (area average, which also averages out sensor noise) to ``analysis_width``."""
    gray = frame if frame.ndim == 2 else cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    h, w = gray.shape[:2]
    if w > analysis_width:
        gray = cv2.resize(gray, (analysis_width, max(1, round(h * analysis_width / w))), interpolation=cv2.INTER_AREA)
    return gray


def frame_metrics(gray: Gray) -> FrameMetrics:
    mean, std = cv2.meanStdDev(gray)
    lap = cv2.Laplacian(gray, cv2.CV_32F)
    return FrameMetrics(float(mean[0][0]), float(std[0][0]), float(lap.var()))


def frame_diff(a: Gray, b: Gray) -> float:
    """Mean absolute grey-level difference; ``inf`` when the shapes differ (the picture did change)."""
    if a.shape != b.shape:
        return float("inf")
    return float(cv2.absdiff(a, b).mean())


def motion_image(gray: Gray, motion_width: int = 160) -> Gray:
    """``gray`` shrunk (area average) to ``motion_width`` and blurred 3x3: codec and sensor noise gone."""
    h, w = gray.shape[:2]
    if w > motion_width:
        gray = cv2.resize(gray, (motion_width, max(1, round(h * motion_width / w))), interpolation=cv2.INTER_AREA)
    return cv2.GaussianBlur(gray, (3, 3), 0)


def changed_percent(a: Gray, b: Gray, pixel_delta: float) -> float:
    """Percentage of pixels whose grey level changed by more than ``pixel_delta``; 100 when shapes differ."""
    if a.shape != b.shape:
        return 100.0
    return 100.0 * float(np.count_nonzero(cv2.absdiff(a, b) > pixel_delta)) / a.size


@dataclass(frozen=True)
class Analysis:
    metrics: FrameMetrics  # of the last frame
    frame_diff: float | None  # largest mean |Δgrey| between consecutive frames (informative)
    motion: float | None  # largest % of changed motion-image pixels between consecutive frames (frozen test)


def analyse_frames(
    grays: Sequence[Gray], previous: Gray | None = None, *, motion_width: int = 160, pixel_delta: float = 6.0
) -> Analysis:
    """Metrics of the last frame and the largest change between consecutive frames.

    ``previous`` is the last frame of the previous sample: a frozen camera repeats it, a live one does
    not, so it adds evidence without costing a frame read (and spans the seconds between samples, in
    which even a quiet scene usually moves).
    """
    if not grays:
        raise ValueError("no frames to analyse")
    chain = ([previous] if previous is not None else []) + list(grays)
    pairs = list(itertools.pairwise(chain))
    if not pairs:
        return Analysis(frame_metrics(grays[-1]), None, None)
    diffs = [frame_diff(a, b) for a, b in pairs]
    small = [motion_image(g, motion_width) for g in chain]
    motion = [changed_percent(a, b, pixel_delta) for a, b in itertools.pairwise(small)]
    return Analysis(frame_metrics(grays[-1]), max(diffs), max(motion))


#: Frame timestamps further apart than this are a clock jump or a stream restart, not a frame rate.
_MAX_PTS_GAP_MS = 10_000.0


def stream_fps(timestamps_ms: Sequence[float | None]) -> float | None:
    """Frames per second by the stream's own clock: presentation timestamps (ms) of consecutive frames.

    These are the camera's times (RTP timestamps for RTSP), so a reader that falls behind — a node short of
    CPU reading frames that waited in its socket — still sees the camera's real pace. A frame without a
    timestamp (None: FFmpeg leaves one out now and then, often the first frames of a session) is counted
    but not timed; two timed frames are enough, a camera's clock being steady. None when fewer are timed or
    the timestamps do not increase (reset) or jump by more than 10 s.
    """
    timed = [(i, t) for i, t in enumerate(timestamps_ms) if t is not None]
    if len(timed) < 2:
        return None
    gaps = [b - a for (_, a), (_, b) in itertools.pairwise(timed)]
    if any(not 0 < gap <= _MAX_PTS_GAP_MS for gap in gaps):
        return None
    (first, t0), (last, t1) = timed[0], timed[-1]
    return 1000.0 * (last - first) / (t1 - t0)


class FpsVerdict(StrEnum):
    """What a frame rate below ``min_fps`` means, when the stream's clock lets us tell."""

    OK = "ok"
    STREAM_SLOW = "stream_slow"  # the camera sends too few frames (by its timestamps, else by arrivals)
    READER_BEHIND = "reader_behind"  # the camera keeps its pace by its own clock; this node read slower
    UNKNOWN = "unknown"  # nothing measured


READER_IDLE_MIN = 0.2
"""Below this share of its time waiting for the camera's data, the reader (not the camera) set the pace."""


def judge_fps(read_fps: float | None, stream_rate: float | None, floor: float,
              reader_idle: float | None = None) -> FpsVerdict:
    """Judge the camera by its own clock when the stream has one, else by the arrival times — unless the
    reader never had to wait for them.

    Arrival times measure the reader as much as the camera: on a node short of CPU the frames wait in the
    socket and arrive late, and a healthy 10 fps camera read at 5 fps would be reported ``low_fps`` to the
    police post. Without stream timestamps (MJPEG over HTTP: FFmpeg invents 40 ms per frame) the reader's
    own waiting tells them apart (``reader_idle``, measured around each read without the time it spent on
    the CPU or waiting for one): a slow camera keeps the reader waiting for data (measured: 0.75–1.0 of
    the time, also beside ``stress-ng``), while a reader that sets the pace finds each frame already there
    (below 0.01).
    """
    if stream_rate is not None:
        if stream_rate < floor:
            return FpsVerdict.STREAM_SLOW
        return FpsVerdict.READER_BEHIND if read_fps is not None and read_fps < floor else FpsVerdict.OK
    if read_fps is None:
        return FpsVerdict.UNKNOWN
    if read_fps >= floor:
        return FpsVerdict.OK
    if reader_idle is not None and reader_idle < READER_IDLE_MIN:
        return FpsVerdict.READER_BEHIND
    return FpsVerdict.STREAM_SLOW


def raw_status(sample: Sample, cfg: CameraConfig, baseline_sharpness: float | None = None) -> tuple[CameraStatus, str]:
    """Classify one sample, worst problem first: offline, black, covered, frozen, blurred, resolution, fps."""
    t = cfg.thresholds
    if not sample.reachable:
        return CameraStatus.OFFLINE, sample.error or "no frame"
    if sample.brightness is not None and sample.contrast is not None and sample.contrast <= t.uniform_std_max:
        if sample.brightness <= t.black_brightness_max:
            return CameraStatus.BLACK, f"brightness {sample.brightness:.1f}, contrast {sample.contrast:.1f}"
        if sample.brightness <= t.covered_brightness_max:
            detail = f"uniform picture: brightness {sample.brightness:.1f}, contrast {sample.contrast:.1f}"
            return CameraStatus.COVERED, detail
    if sample.motion is not None and sample.motion <= t.frozen_motion_max:
        detail = (
            f"picture unchanged over {sample.frames} frames ({sample.motion:.2f} % of pixels changed by more "
            f"than {t.motion_pixel_delta:g} grey levels)"
        )
        return CameraStatus.FROZEN, detail
    if sample.sharpness is not None:
        if sample.sharpness < t.blur_sharpness_min:
            return CameraStatus.BLURRED, f"sharpness {sample.sharpness:.1f} < {t.blur_sharpness_min:g}"
        if baseline_sharpness and t.blur_drop_ratio and sample.sharpness < baseline_sharpness * t.blur_drop_ratio:
            detail = f"sharpness {sample.sharpness:.1f} < {t.blur_drop_ratio:g} × baseline {baseline_sharpness:.1f}"
            return CameraStatus.BLURRED, detail
    if (
        cfg.expected_width
        and sample.width is not None
        and (sample.width, sample.height)
        != (
            cfg.expected_width,
            cfg.expected_height,
        )
    ):
        return (
            CameraStatus.WRONG_RESOLUTION,
            f"{sample.width}x{sample.height}, expected {cfg.expected_width}x{cfg.expected_height}",
        )
    if cfg.min_fps:
        verdict = judge_fps(sample.fps, sample.stream_fps, cfg.min_fps * t.fps_tolerance, sample.reader_idle)
        if verdict is FpsVerdict.STREAM_SLOW:
            if sample.stream_fps is not None:
                return CameraStatus.LOW_FPS, f"{sample.stream_fps:.1f} fps < {cfg.min_fps:g} (stream timestamps)"
            return CameraStatus.LOW_FPS, f"{sample.fps:.1f} fps < {cfg.min_fps:g}"
        if verdict is FpsVerdict.READER_BEHIND:
            pace = (f"camera sends {sample.stream_fps:.1f} fps (stream timestamps)" if sample.stream_fps is not None
                    else "each frame was already waiting")
            return CameraStatus.OK, (
                f"node behind: read at {sample.fps:.1f} fps, {pace}; the node is short of CPU, the camera is fine"
            )
    return CameraStatus.OK, ""


@dataclass
class HealthTracker:
    """Reported status of one camera: a new raw status is reported only after it holds for N samples."""

    cfg: CameraConfig
    since: datetime
    status: CameraStatus = CameraStatus.UNKNOWN
    detail: str = ""
    candidate: CameraStatus | None = None
    count: int = 0
    baseline_sharpness: float | None = None
    last: Sample | None = None
    history: list[tuple[datetime, CameraStatus]] = field(default_factory=list)

    def needed(self, status: CameraStatus) -> int:
        h = self.cfg.hysteresis
        if self.status is CameraStatus.UNKNOWN and status is CameraStatus.OK:
            return 1  # a good first verdict at once: nothing to flap from
        # A fault is confirmed even as the first verdict: the first sample after start is the least
        # representative one (every camera opening at once, the node busy starting), and a low fps or
        # a blur seen only there would be an alert to the police post that clears itself seconds later.
        if status is CameraStatus.OFFLINE:
            return h.offline_after
        if status is CameraStatus.OK:
            return h.recover_after
        return h.change_after

    @property
    def pending(self) -> bool:
        """A different status is waiting for confirmation (the monitor then samples sooner)."""
        return self.candidate is not None and self.candidate is not self.status

    def update(self, sample: Sample) -> bool:
        """Feed one sample; return True when the reported status changed."""
        self.last = sample
        status, detail = raw_status(sample, self.cfg, self.baseline_sharpness)
        if status is CameraStatus.OK and sample.sharpness is not None:
            b = self.baseline_sharpness
            self.baseline_sharpness = sample.sharpness if b is None else 0.9 * b + 0.1 * sample.sharpness
        if status is self.status:
            self.candidate, self.count, self.detail = None, 0, detail
            return False
        if status is self.candidate:
            self.count += 1
        else:
            self.candidate, self.count = status, 1
        if self.count < self.needed(status):
            return False
        self.status, self.detail, self.since = status, detail, sample.at
        self.candidate, self.count = None, 0
        self.history.append((sample.at, status))
        return True

    def health(self, camera: str, node: str, name: str | None = None) -> CameraHealth:
        s = self.last or Sample(at=self.since, reachable=False)
        return CameraHealth(
            camera=camera,
            node=node,
            name=name or None,
            status=self.status,
            since=self.since,
            reachable=s.reachable,
            fps=_round(s.stream_fps if s.stream_fps is not None else s.fps, 2),  # the camera's pace when known
            width=s.width,
            height=s.height,
            brightness=_round(s.brightness, 1),
            sharpness=_round(s.sharpness, 1),
            frame_diff=_round(s.frame_diff, 3) if s.frame_diff != float("inf") else None,
            first_frame_ms=_round(s.first_frame_ms, 1),
            last_frame_at=s.last_frame_at,
            detail=(self.detail or None) and self.detail[:500],
        )


def _round(value: float | None, ndigits: int) -> float | None:
    return None if value is None else round(value, ndigits)


__all__ = [
    "Analysis",
    "FpsVerdict",
    "FrameMetrics",
    "HealthTracker",
    "Sample",
    "analyse_frames",
    "changed_percent",
    "frame_diff",
    "frame_metrics",
    "judge_fps",
    "motion_image",
    "raw_status",
    "stream_fps",
    "to_gray",
]
