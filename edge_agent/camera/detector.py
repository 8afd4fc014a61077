"""One camera's detection pipeline over the frames a sample reads: motion → people → episode → picture.

Runs in the monitor's capture thread, frame by frame as they are decoded (only the busiest frame of the
sample is kept), so detection adds no stream opening and no frame held per camera beyond one. Frames
arrive with the privacy masks already blacked out (capture does it right after decoding).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

import cv2
import numpy as np

from edge_agent.camera.config import CameraConfig
from edge_agent.camera.detect_config import DetectionConfig, DetectionKind
from edge_agent.camera.episodes import Decision, EpisodeTracker, Observation
from edge_agent.camera.motion import Gray, MotionDetector, MotionResult
from edge_agent.camera.people import PeopleDetector
from edge_agent.camera.regions import Box

_COLOURS = {"person": (0, 0, 255), "motion": (0, 200, 255)}  # BGR: red people, amber motion


@dataclass(frozen=True)
class DetectedEvent:
    """A confirmed event with its picture (JPEG, boxes drawn, privacy masks already black)."""

    camera: str
    kind: DetectionKind
    at: datetime
    score: float
    boxes: tuple[Box, ...]
    width: int
    height: int
    jpeg: bytes


def draw_picture(frame: np.ndarray, decision: Decision, camera: str, tz: str) -> np.ndarray:
    """A copy of ``frame`` with the event's boxes and a caption (camera, local time) burnt in."""
    img = frame.copy()
    h, w = img.shape[:2]
    thick = max(2, w // 320)
    colour = _COLOURS[decision.kind]
    for box in decision.boxes:
        x0, y0, x1, y1 = box.pixels(w, h)
        cv2.rectangle(img, (x0, y0), (x1, y1), colour, thick)
        if box.score is not None:
            label = f"{decision.kind} {box.score:.2f}"
            cv2.putText(img, label, (x0, max(12, y0 - 4)), cv2.FONT_HERSHEY_SIMPLEX, 0.4 * thick, colour, thick)
    stamp = decision.at.astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M:%S")
    caption = f"{camera}  {stamp}"
    cv2.putText(img, caption, (6, h - 8), cv2.FONT_HERSHEY_SIMPLEX, 0.4 * thick, (0, 0, 0), thick + 2)
    cv2.putText(img, caption, (6, h - 8), cv2.FONT_HERSHEY_SIMPLEX, 0.4 * thick, (255, 255, 255), thick)
    return img


def encode(img: np.ndarray, quality: int) -> bytes:
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return buf.tobytes()


class CameraDetector:
    """Per camera, used by one thread at a time: :meth:`begin`, :meth:`observe` each frame, :meth:`finish`."""

    def __init__(self, cfg: CameraConfig) -> None:
        if cfg.detection is None:
            raise ValueError(f"camera {cfg.id} has no detection settings")
        self.cfg = cfg
        self.settings: DetectionConfig = cfg.detection
        self.motion = MotionDetector(self.settings.motion, self.settings.masks, cfg.privacy_masks)
        self.people = PeopleDetector(self.settings.people) if "person" in self.settings.events else None
        self.episodes = EpisodeTracker(self.settings)
        self._best: tuple[np.ndarray, MotionResult] | None = None
        self._running = False
        self.last_motion: MotionResult | None = None
        self.suppressed = 0  # frames ignored as global light changes or shake (informative)

    def active_at(self, at: datetime) -> bool:
        return self.settings.active_at(at)

    def begin(self, at: datetime) -> bool:
        """Start a sample; False outside the active hours (state forgotten, so a scene changed meanwhile
        is learnt afresh instead of being reported as motion)."""
        self._best = None
        if not self.active_at(at):
            if self._running:
                self.motion.reset()
                self.episodes.reset()
                self._running = False
            return False
        self._running = True
        return True

    def observe(self, frame: np.ndarray, gray: Gray) -> None:
        if not self._running:
            return
        result = self.motion.detect(gray)
        self.last_motion = result
        if result.suppressed in ("global_change", "shake"):
            self.suppressed += 1
        if result.moving and (self._best is None or result.area_percent >= self._best[1].area_percent):
            self._best = (frame, result)

    def fail(self) -> None:
        """The sample failed (camera offline): forget the background, it may have changed."""
        self.motion.reset()
        self._best = None

    def finish(self, at: datetime) -> list[DetectedEvent]:
        """Close the sample: people on its busiest frame, episode decision, pictures of new events."""
        if not self._running:
            return []
        best, self._best = self._best, None
        people: list[Box] = []
        if best is not None and self.people is not None:
            people = self.people.detect(best[0], best[1].boxes)
        obs = Observation(at, best[1].boxes if best else (), best[1].area_percent if best else 0.0, tuple(people))
        events = []
        for decision in self.episodes.update(obs):
            assert best is not None  # a decision needs something seen in this sample
            frame = best[0]
            img = draw_picture(frame, decision, self.cfg.id, self.settings.timezone)
            h, w = frame.shape[:2]
            events.append(DetectedEvent(self.cfg.id, decision.kind, decision.at, decision.score, decision.boxes,
                                        w, h, encode(img, self.settings.picture_quality)))
        return events


__all__ = ["CameraDetector", "DetectedEvent", "draw_picture"]
