"""What crosses a simulated camera's picture: a real person, a cart, plus light changes and shake.

The person is a photograph: scikit-image ships NASA's portrait of astronaut Eileen Collins
(``skimage/data/astronaut.png``, public domain). It shows head and torso only, and OpenCV's HOG people
detector is trained on whole standing bodies, so the simulator cuts her out along a fixed outline and
stands her on drawn trousers and shoes whose stride changes as she walks. HOG finds that figure
(margins 1-3 at 110-240 px tall) and nothing in the empty street; the cart (a box on wheels, the same
size and path) must move without being taken for a person.
"""

from __future__ import annotations

from functools import lru_cache
from importlib.resources import files

import cv2
import numpy as np

#: Outline of the astronaut (head, collar, torso; not the helmet and flag beside her) in the 512x512 photo.
_HEAD = ((226, 100), (74, 88))
_TORSO = np.array(
    [(185, 170), (150, 175), (118, 205), (100, 235), (55, 265), (33, 310), (24, 380), (22, 511), (285, 511),
     (288, 400), (300, 350), (362, 338), (360, 290), (345, 240), (305, 205), (270, 172)],
    np.int32,
)
PHASES = 8  # walking poses per stride


class ActorError(RuntimeError):
    """A scene actor cannot be drawn (e.g. scikit-image, which ships the photo, is not installed)."""


@lru_cache(maxsize=1)
def astronaut() -> tuple[np.ndarray, np.ndarray]:
    """The photo (BGR) and the person's outline (uint8 mask)."""
    try:
        data = (files("skimage.data") / "astronaut.png").read_bytes()
    except (ModuleNotFoundError, FileNotFoundError, OSError) as err:
        raise ActorError(
            "the simulated person is the astronaut photo shipped by scikit-image: pip install scikit-image "
            f"(or the project's 'dev' extra) ({type(err).__name__})"
        ) from None
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if img is None or img.shape[:2] != (512, 512):
        raise ActorError("skimage/data/astronaut.png is not the expected 512x512 picture")
    mask = np.zeros(img.shape[:2], np.uint8)
    cv2.ellipse(mask, _HEAD[0], _HEAD[1], 0, 0, 360, 255, -1)
    cv2.fillPoly(mask, [_TORSO], 255)
    return img, mask


def _full_body(phase: float) -> tuple[np.ndarray, np.ndarray]:
    """The astronaut on legs, at the photo's scale (about 400 x 1100 px)."""
    photo, outline = astronaut()
    torso_h, legs_h = 512, 540
    height, width = torso_h + legs_h + 30, 400
    img = np.zeros((height, width, 3), np.uint8)
    mask = np.zeros((height, width), np.uint8)
    img[:torso_h, 10:373] = photo[:, :363]
    mask[:torso_h, 10:373] = outline[:, :363]
    swing = int(60 * np.sin(phase))
    for hip_x, step in ((80, swing), (260, -swing)):
        foot_x, foot_y = hip_x + 60 + step, torso_h + legs_h
        leg = np.array([(hip_x - 40, torso_h - 10), (hip_x + 95, torso_h - 10), (foot_x + 45, foot_y),
                        (foot_x - 40, foot_y)], np.int32)
        cv2.fillPoly(img, [leg], (60, 45, 40))  # dark trousers
        cv2.fillPoly(mask, [leg], 255)
        cv2.ellipse(img, (foot_x + 10, foot_y + 10), (65, 22), 0, 0, 360, (20, 20, 20), -1)  # shoe
        cv2.ellipse(mask, (foot_x + 10, foot_y + 10), (65, 22), 0, 0, 360, 255, -1)
    return img, mask


@lru_cache(maxsize=16)
def person_sprites(height: int) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    """``PHASES`` walking poses ``height`` px tall: (BGR, alpha 0..1 float32)."""
    out = []
    for i in range(PHASES):
        img, mask = _full_body(2 * np.pi * i / PHASES)
        width = max(1, round(img.shape[1] * height / img.shape[0]))
        small = cv2.resize(img, (width, height), interpolation=cv2.INTER_AREA)
        alpha = cv2.resize(mask, (width, height), interpolation=cv2.INTER_AREA).astype(np.float32) / 255
        out.append((small, alpha))
    return tuple(out)


@lru_cache(maxsize=16)
def cart_sprite(height: int) -> tuple[np.ndarray, np.ndarray]:
    """A hand cart with a load: a box on two wheels, as tall as the person and half as wide."""
    width = height // 2
    img = np.zeros((height, width, 3), np.uint8)
    img[:] = (40, 110, 170)
    cv2.rectangle(img, (0, height // 5), (width - 1, height * 4 // 5), (30, 80, 140), max(1, height // 40))
    wheel = max(2, height // 10)
    for cx in (width // 4, width * 3 // 4):
        cv2.circle(img, (cx, height - wheel), wheel, (15, 15, 15), -1)
    alpha = np.ones((height, width), np.float32)
    alpha[: height // 5] = 0.0
    return img, alpha


def composite(img: np.ndarray, sprite: np.ndarray, alpha: np.ndarray, x: int, y: int) -> None:
    """Paste ``sprite`` with ``alpha`` at (x, y) (top-left; may stick out of the picture)."""
    h, w = sprite.shape[:2]
    x0, y0 = max(0, x), max(0, y)
    x1, y1 = min(img.shape[1], x + w), min(img.shape[0], y + h)
    if x1 <= x0 or y1 <= y0:
        return
    sx, sy = x0 - x, y0 - y
    a = alpha[sy: sy + (y1 - y0), sx: sx + (x1 - x0), None]
    roi = img[y0:y1, x0:x1].astype(np.float32)
    part = sprite[sy: sy + (y1 - y0), sx: sx + (x1 - x0)].astype(np.float32)
    img[y0:y1, x0:x1] = (roi * (1 - a) + part * a).astype(np.uint8)


__all__ = ["PHASES", "ActorError", "astronaut", "cart_sprite", "composite", "person_sprites"]
