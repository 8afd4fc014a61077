"""People detection with OpenCV's HOG + linear SVM people detector, on moving regions only.

Why HOG: its weights ship inside the OpenCV package (``cv2.HOGDescriptor_getDefaultPeopleDetector``),
nothing is downloaded at run time, and it runs on a Raspberry Pi CPU. OpenCV 5 moved it from the main
wheel to the contrib build, so LoaXa depends on ``opencv-contrib-python-headless``;
:func:`hog_available` says whether the installed OpenCV has it.

Cost is bounded by looking only where motion was found: the union of the moving boxes, enlarged to
give HOG the whole body and some margin, is cut from the full-resolution frame and scaled to a height
between ``min_roi_height`` (HOG's window is 64x128 px: a small, far person must be enlarged) and
``max_roi_height`` (the cost grows with the area).
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from edge_agent.camera.detect_config import PeopleSettings
from edge_agent.camera.regions import Box, union

_WIN_H = 128


def hog_available() -> bool:
    return hasattr(cv2, "HOGDescriptor") and hasattr(cv2, "HOGDescriptor_getDefaultPeopleDetector")


class PeopleUnavailable(RuntimeError):
    """The installed OpenCV has no HOG people detector (the plain OpenCV 5 wheel)."""


def region_of_interest(boxes: Sequence[Box]) -> Box | None:
    """Where to look for people: the moving boxes' union, grown so a whole body (taller than wide) fits."""
    u = union(boxes)
    if u is None:
        return None
    h = min(1.0, max(u.h * 1.6, u.w * 1.2))
    w = min(1.0, max(u.w * 1.4, h * 0.6))
    cx, cy = u.x + u.w / 2, u.y + u.h / 2
    x = min(max(0.0, cx - w / 2), 1.0 - w)
    y = min(max(0.0, cy - h / 2), 1.0 - h)
    return Box(x, y, w, h)


def _overlap(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    """Intersection over the smaller box: HOG's grouping leaves a box inside a larger one for one person."""
    ix = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    return ix * iy / max(1, min(a[2] * a[3], b[2] * b[3]))


class PeopleDetector:
    """Not thread-safe: one per camera (each worker thread uses its own)."""

    def __init__(self, settings: PeopleSettings) -> None:
        if not hog_available():
            raise PeopleUnavailable(
                "this OpenCV has no HOG people detector: install opencv-contrib-python-headless "
                "(OpenCV 5 moved HOG out of opencv-python-headless)"
            )
        self.settings = settings
        self.hog = cv2.HOGDescriptor()
        self.hog.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())  # type: ignore[attr-defined]

    def detect(self, frame: np.ndarray, motion: Sequence[Box]) -> list[Box]:
        """People found in ``frame`` (BGR, full size) around the ``motion`` boxes, best score first."""
        roi = region_of_interest(motion)
        if roi is None:
            return []
        fh, fw = frame.shape[:2]
        x0, y0, x1, y1 = roi.pixels(fw, fh)
        crop = frame[y0:y1, x0:x1]
        if crop.shape[0] < 16 or crop.shape[1] < 8:
            return []
        s = self.settings
        target = min(max(crop.shape[0], s.min_roi_height), s.max_roi_height)
        factor = target / crop.shape[0]
        if abs(factor - 1.0) > 0.02:
            interp = cv2.INTER_AREA if factor < 1 else cv2.INTER_LINEAR
            crop = cv2.resize(crop, (max(64, round(crop.shape[1] * factor)), target), interpolation=interp)
        else:
            factor = 1.0
        if crop.shape[1] < 64 or crop.shape[0] < _WIN_H:
            return []
        rects, weights = self.hog.detectMultiScale(crop, winStride=(8, 8), padding=(8, 8), scale=s.scale)
        found: list[tuple[tuple[int, int, int, int], float]] = sorted(
            (((int(r[0]), int(r[1]), int(r[2]), int(r[3])), float(wt))
             for r, wt in zip(rects, np.ravel(weights), strict=False) if float(wt) >= s.min_score),
            key=lambda item: -item[1],
        )
        kept: list[tuple[tuple[int, int, int, int], float]] = []
        for rect, score in found:
            if all(_overlap(rect, k) < 0.6 for k, _ in kept):
                kept.append((rect, score))
        return [
            Box.from_pixels(x0 + x / factor, y0 + y / factor, w / factor, h / factor, fw, fh, round(score, 3))
            for (x, y, w, h), score in kept
        ]


__all__ = ["PeopleDetector", "PeopleUnavailable", "hog_available", "region_of_interest"]
