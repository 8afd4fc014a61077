"""Synthetic camera pictures: a textured street with a moving object and sensor noise, plus faults.

Cheap on purpose (a few ms per 640x360 frame): the background and sixteen noise fields are made once,
each frame is a copy, one moving shape and one noise field.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field

import cv2
import numpy as np

#: Picture faults change the image; transport faults (disconnect, stall) are applied by the servers.
PICTURE_FAULTS = ("freeze", "black", "cover", "blur", "fps_drop", "resolution")
TRANSPORT_FAULTS = ("disconnect", "stall")
FAULTS = ("none", *TRANSPORT_FAULTS, *PICTURE_FAULTS)


def _background(width: int, height: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = np.zeros((height, width, 3), np.uint8)
    img[:] = (rng.integers(90, 150), rng.integers(90, 150), rng.integers(90, 150))
    # sky gradient and a road
    img[: height // 3] = np.linspace(200, 150, height // 3, dtype=np.uint8)[:, None, None]
    cv2.rectangle(img, (0, height * 2 // 3), (width, height), (70, 70, 70), -1)
    # buildings with windows: lots of edges, like a real street
    x = 0
    while x < width:
        w = int(rng.integers(width // 12, width // 5))
        top = int(rng.integers(height // 6, height // 2))
        colour = tuple(int(c) for c in rng.integers(40, 220, 3))
        cv2.rectangle(img, (x, top), (x + w, height * 2 // 3), colour, -1)
        step = max(4, width // 60)
        for wx in range(x + step, x + w - step, step * 2):
            for wy in range(top + step, height * 2 // 3 - step, step * 2):
                cv2.rectangle(img, (wx, wy), (wx + step // 2 + 1, wy + step // 2 + 1), (20, 30, 40), -1)
        x += w + int(rng.integers(2, 10))
    for i in range(0, width, max(8, width // 20)):  # lane marks
        cv2.line(img, (i, height * 5 // 6), (i + max(4, width // 40), height * 5 // 6), (230, 230, 230), 2)
    return img


@dataclass
class SceneCamera:
    """One simulated camera's picture source. Thread-safe: the RTSP feeder and HTTP handlers share it."""

    id: str
    width: int = 640
    height: int = 360
    fps: float = 10.0
    seed: int = 0
    noise: int = 6  # sensor noise amplitude, grey levels
    low_fps: float = 2.0
    quality: int = 80
    fault: str = "none"
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _frozen: bytes | None = field(default=None, repr=False)
    _count: int = field(default=0, repr=False)

    def __post_init__(self) -> None:
        self._bg = _background(self.width, self.height, self.seed)
        rng = np.random.default_rng(self.seed + 1)
        self._noise = [rng.integers(0, self.noise + 1, (self.height, self.width, 3), dtype=np.uint8) for _ in range(16)]
        self._rng = rng

    def set_fault(self, fault: str) -> None:
        if fault not in FAULTS:
            raise ValueError(f"unknown fault {fault!r}; choose from {', '.join(FAULTS)}")
        with self._lock:
            if fault != self.fault:
                self.fault = fault
                self._frozen = None

    @property
    def frame_interval(self) -> float:
        return 1.0 / (self.low_fps if self.fault == "fps_drop" else self.fps)

    def render(self, t: float) -> np.ndarray:
        """The BGR picture at time ``t`` (seconds) under the current fault."""
        fault = self.fault
        noise = self._noise[int(self._rng.integers(0, len(self._noise)))]
        if fault == "black":
            return noise // 3
        if fault == "cover":
            img = np.empty_like(self._bg)
            img[:] = (40, 55, 70)  # a hand or cloth over the lens: dim, uniform
            return cv2.add(img, noise)
        img = self._bg.copy()
        w, h = self.width, self.height
        # a motorbike riding along the road and a person walking back and forth
        x = int((t * w / 6) % (w + 60)) - 30
        cv2.rectangle(img, (x, h * 3 // 4), (x + w // 12, h * 3 // 4 + h // 14), (30, 30, 200), -1)
        px = int(w / 2 + w / 4 * math.sin(t / 2))
        cv2.circle(img, (px, h * 2 // 3 - h // 12), max(3, h // 30), (40, 160, 230), -1)
        if fault == "blur":
            img = cv2.GaussianBlur(img, (0, 0), max(2.0, w / 80))
        img = cv2.add(img, noise)
        if fault == "resolution":
            img = cv2.resize(img, (w // 2, h // 2), interpolation=cv2.INTER_AREA)
        return img

    def jpeg(self, t: float) -> bytes:
        """The next JPEG; a frozen camera repeats the same bytes forever."""
        with self._lock:
            if self.fault == "freeze" and self._frozen is not None:
                return self._frozen
            _, buf = cv2.imencode(".jpg", self.render(t), [cv2.IMWRITE_JPEG_QUALITY, self.quality])
            data = buf.tobytes()
            if self.fault == "freeze":
                self._frozen = data
            self._count += 1
            return data
