"""Polygons in picture fractions → pixel masks; privacy black-out; boxes in fractions.

Pure (NumPy/OpenCV arithmetic, no I/O). Rasterised masks are cached per picture size, since every
frame of a camera has the same size and a mask costs more to draw than to apply.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from edge_agent.camera.detect_config import Polygon


@dataclass(frozen=True)
class Box:
    """A rectangle in fractions of the picture (x, y of the top-left corner, width, height) with a score."""

    x: float
    y: float
    w: float
    h: float
    score: float | None = None

    @classmethod
    def from_pixels(cls, x: float, y: float, w: float, h: float, width: int, height: int,
                    score: float | None = None) -> Box:
        fx, fy = max(0.0, x / width), max(0.0, y / height)
        return cls(fx, fy, min(1.0 - fx, w / width), min(1.0 - fy, h / height), score)

    def pixels(self, width: int, height: int) -> tuple[int, int, int, int]:
        """(x0, y0, x1, y1) in pixels of a ``width`` x ``height`` picture, clipped to it."""
        x0, y0 = int(self.x * width), int(self.y * height)
        x1, y1 = round((self.x + self.w) * width), round((self.y + self.h) * height)
        return max(0, x0), max(0, y0), min(width, x1), min(height, y1)

    @property
    def area(self) -> float:
        return self.w * self.h


def union(boxes: Sequence[Box]) -> Box | None:
    if not boxes:
        return None
    x0, y0 = min(b.x for b in boxes), min(b.y for b in boxes)
    x1, y1 = max(b.x + b.w for b in boxes), max(b.y + b.h for b in boxes)
    return Box(x0, y0, x1 - x0, y1 - y0)


def _key(polygons: Sequence[Polygon]) -> tuple[tuple[tuple[float, float], ...], ...]:
    return tuple(tuple((float(x), float(y)) for x, y in poly) for poly in polygons)


@lru_cache(maxsize=64)
def _mask(key: tuple[tuple[tuple[float, float], ...], ...], width: int, height: int) -> np.ndarray:
    mask = np.zeros((height, width), np.uint8)
    # Corner (x, y) in fractions → pixel edges: 1.0 is the far edge, so the whole picture is coverable.
    pts = [np.array([(round(x * width), round(y * height)) for x, y in poly], np.int32) for poly in key]
    if pts:
        cv2.fillPoly(mask, pts, 255)
    mask.setflags(write=False)
    return mask


def polygon_mask(polygons: Sequence[Polygon], width: int, height: int) -> np.ndarray:
    """uint8 ``height`` x ``width``: 255 inside any polygon, 0 elsewhere (read-only, cached)."""
    return _mask(_key(polygons), width, height)


def black_out(frame: np.ndarray, polygons: Sequence[Polygon]) -> np.ndarray:
    """``frame`` with every privacy polygon painted black (in place; returns it). No polygons: unchanged."""
    if not polygons:
        return frame
    h, w = frame.shape[:2]
    frame[polygon_mask(polygons, w, h) > 0] = 0
    return frame


__all__ = ["Box", "black_out", "polygon_mask", "union"]
