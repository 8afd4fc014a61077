"""Synthetic camera pictures: a textured street with a moving object and sensor noise, plus faults and actions.

Cheap on purpose (a few ms per 640x360 frame): the background and sixteen noise fields are made once,
each frame is a copy, one moving shape and one noise field.

Two scenes: ``street`` (a motorbike on the road and a ball bouncing on the pavement: always something
moving) and ``watch`` (an important point at night: only the motorbike on the road, which detection
tests mask out). Actions, set at run time like faults, give detection something to see or to resist:
``person`` (a photographed person walks across), ``object`` (a cart crosses: motion, no person),
``lights`` (the whole picture dims and brightens, like clouds or a lamp), ``shake`` (the camera jitters).
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
#: Things happening in front of the camera (``none`` clears); person and object end by themselves.
ACTIONS = ("none", "person", "object", "lights", "shake")
SCENES = ("street", "watch")
#: Default durations (s): crossing the picture, or how long lights/shake go on.
ACTION_SECONDS = {"person": 8.0, "object": 8.0, "lights": 3600.0, "shake": 3600.0}


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
    scene: str = "street"
    action: str = "none"
    action_s: float = 0.0
    _action_at: float | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _frozen: bytes | None = field(default=None, repr=False)
    _count: int = field(default=0, repr=False)

    def __post_init__(self) -> None:
        if self.scene not in SCENES:
            raise ValueError(f"unknown scene {self.scene!r}; choose from {', '.join(SCENES)}")
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

    def set_action(self, action: str, seconds: float | None = None) -> None:
        """Start ``action`` at the next frame, for ``seconds`` (person/object: the crossing time)."""
        if action not in ACTIONS:
            raise ValueError(f"unknown action {action!r}; choose from {', '.join(ACTIONS)}")
        if seconds is not None and not 0.5 <= seconds <= 86_400:
            raise ValueError("action seconds must be between 0.5 and 86400")
        with self._lock:
            if action in ("person", "object"):  # make the figure before the clock starts (first use ~50 ms)
                self._sprite(action, 0.0)
            self.action = action
            self.action_s = seconds or ACTION_SECONDS.get(action, 0.0)
            self._action_at = None

    def _sprite(self, action: str, progress: float) -> tuple[np.ndarray, np.ndarray]:
        from simulators.camera.actors import PHASES, cart_sprite, person_sprites

        height = max(32, round(self.height * 0.45))
        if action == "object":
            return cart_sprite(height)
        return person_sprites(height)[int(progress * 2 * PHASES) % PHASES]  # two strides per second

    def _act(self, img: np.ndarray, t: float) -> tuple[np.ndarray, float]:
        """Draw the current action at time ``t``; returns the picture and the light factor to apply."""
        if self.action == "none":
            return img, 1.0
        if self._action_at is None:
            self._action_at = t
        elapsed = t - self._action_at
        if elapsed > self.action_s:
            self.action, self._action_at = "none", None
            return img, 1.0
        if self.action in ("person", "object"):
            from simulators.camera.actors import composite

            sprite, alpha = self._sprite(self.action, elapsed)
            w = sprite.shape[1]
            x = int(-w + (self.width + w) * elapsed / self.action_s)
            feet = self.height * 2 // 3 + self.height // 40
            composite(img, sprite, alpha, x, feet - sprite.shape[0])
            return img, 1.0
        if self.action == "lights":  # 1.5 s dim, 1.5 s bright: a cloud, a lamp, headlights
            return img, 0.55 if int(elapsed / 1.5) % 2 == 0 else 1.0
        return img, 1.0

    def _shake(self, img: np.ndarray) -> np.ndarray:
        amp = max(2, self.width // 80)
        dx, dy = (int(v) for v in self._rng.integers(-amp, amp + 1, 2))
        m = np.float32([[1, 0, dx], [0, 1, dy]])
        return cv2.warpAffine(img, m, (self.width, self.height), borderMode=cv2.BORDER_REFLECT)

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
        if self.scene == "street":
            px = int(w / 2 + w / 4 * math.sin(t / 2))
            cv2.circle(img, (px, h * 2 // 3 - h // 12), max(3, h // 30), (40, 160, 230), -1)
        img, light = self._act(img, t)
        if fault == "blur":
            img = cv2.GaussianBlur(img, (0, 0), max(2.0, w / 80))
        if light != 1.0:
            img = cv2.convertScaleAbs(img, alpha=light)
        img = cv2.add(img, noise)
        if self.action == "shake":
            img = self._shake(img)
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
