"""Pure motion detection: a learnt background, compared with each frame on a small normalised grey picture.

Why each step (see docs/camera.md, "Detection"):

* **small picture** (``width`` px, area average): sensor and codec noise average out and the cost does not
  depend on the camera resolution;
* **contrast normalisation** (2nd-98th percentile stretched to 0-255, over the analysed pixels only): a
  global change of light — a cloud, dusk, a street lamp switching on — multiplies and shifts every grey
  level alike and disappears here, before any comparison;
* **shake compensation**: the shift between background and frame is measured by phase correlation and
  the frame moved back before comparing, so a pole swaying in the wind does not light up every edge; the
  comparison then tolerates what is left (a pixel changes only when it leaves the range of its 3x3
  neighbourhood in the background: a sharp edge off by half a pixel does not, a person does);
* **global change guard**: when more than ``global_change_percent`` of the picture still changed, it is
  the light (infra-red switch, a lamp beside the camera) or a knock, not something moving in the scene:
  the background restarts and nothing is reported;
* **background learning**: only where nothing moves (the moving object is not learnt into the
  background), except that a change still there after ``absorb_after_frames`` becomes background;
* **masks**: ignored regions (and privacy regions) are excluded from statistics and comparison.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from edge_agent.camera.detect_config import MotionSettings, Polygon
from edge_agent.camera.regions import Box, polygon_mask

Gray = np.ndarray  # 2-D uint8

_KERNEL = np.ones((3, 3), np.uint8)


@dataclass(frozen=True)
class MotionResult:
    boxes: tuple[Box, ...]  # moving blobs at least min_area_percent large, in picture fractions
    area_percent: float  # their total area, % of the analysed picture
    changed_percent: float  # % of analysed pixels beyond the threshold (before the size filter)
    shift: tuple[float, float] = (0.0, 0.0)  # measured camera shift, pixels of the analysis picture
    suppressed: str | None = None  # "learning", "global_change", "shake" — why nothing is reported

    @property
    def moving(self) -> bool:
        return bool(self.boxes)


class MotionDetector:
    """Feed grey frames of one camera in order; each :meth:`detect` returns what moved against the background."""

    def __init__(self, settings: MotionSettings, ignore: Sequence[Polygon] = (),
                 privacy: Sequence[Polygon] = ()) -> None:
        self.settings = settings
        self.excluded = [*ignore, *privacy]
        self.background: np.ndarray | None = None  # float32, normalised, analysis size
        self._valid: np.ndarray | None = None  # bool mask of analysed pixels
        self._clean: np.ndarray | None = None  # _valid less the rim the blur mixes with masked pixels
        self._still_moving = 0  # consecutive frames with motion
        self._window: np.ndarray | None = None

    def reset(self) -> None:
        """Forget the background (after a pause: detection outside its hours, a camera fault)."""
        self.background = None
        self._still_moving = 0

    def _prepare(self, gray: Gray) -> np.ndarray:
        h, w = gray.shape[:2]
        width = min(self.settings.width, w)
        height = max(8, round(h * width / w))
        small = cv2.resize(gray, (width, height), interpolation=cv2.INTER_AREA) if width != w else gray
        if self._valid is None or self._valid.shape != small.shape:
            self._valid = polygon_mask(self.excluded, width, height) == 0
            # the 3x3 blur below mixes a masked region's pixels into its rim: the rim is not clean picture
            self._clean = cv2.erode(self._valid.astype(np.uint8), _KERNEL, borderType=cv2.BORDER_CONSTANT,
                                    borderValue=1) > 0
            self.background = None
        values = small[self._valid]
        if values.size < 16:
            return np.zeros(small.shape, np.float32)
        lo, hi = np.percentile(values, (2, 98))
        scale = 255.0 / max(float(hi - lo), 8.0)  # a flat picture (night, covered) is not stretched into noise
        norm = (small.astype(np.float32) - float(lo)) * scale
        np.clip(norm, 0, 255, out=norm)
        return cv2.GaussianBlur(norm, (3, 3), 0)

    def _align(self, norm: np.ndarray) -> tuple[np.ndarray, tuple[float, float], np.ndarray] | None:
        """``norm`` moved back onto the background, the shift, and where it holds clean picture; None = too far.

        The third value is, in background coordinates, the pixels whose content came from a clean pixel
        of the frame: not from a masked region (a privacy region is black and does not move with the
        picture, an ignored region holds traffic), nor from its blurred rim, nor from outside the picture.
        Only those are compared and learnt. Learning the rest let the black of a privacy region smear into
        the background beside it while the camera shook; the next frame that happened to sit exactly on
        the background then showed bright sky where the background held grey, as motion.
        """
        assert self.background is not None and self._clean is not None
        if self._window is None or self._window.shape != norm.shape:
            # without a window the picture's own borders dominate the correlation and pull the shift to 0
            self._window = cv2.createHanningWindow((norm.shape[1], norm.shape[0]), cv2.CV_32F)
        # The window is applied here, not passed: OpenCV 5.0's phaseCorrelate(a, b, window) overwrites a and b.
        (dx, dy), _response = cv2.phaseCorrelate(self.background * self._window, norm * self._window)
        dist = float(np.hypot(dx, dy))
        if dist < 0.5:
            return norm, (0.0, 0.0), self._clean
        if dist > self.settings.max_shift_percent / 100 * norm.shape[1]:
            return None
        m = np.array([[1, 0, -dx], [0, 1, -dy]], np.float32)
        size = (norm.shape[1], norm.shape[0])
        moved = cv2.warpAffine(norm, m, size, borderMode=cv2.BORDER_REPLICATE)
        # a pixel interpolated from any unclean source pixel is unclean: only full weight (255) passes
        source = cv2.warpAffine(self._clean.astype(np.uint8) * 255, m, size, flags=cv2.INTER_LINEAR,
                                borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        return moved, (float(dx), float(dy)), (source == 255) & self._clean

    def detect(self, gray: Gray) -> MotionResult:
        norm = self._prepare(gray)
        assert self._clean is not None
        if self.background is None:
            self.background = norm.copy()
            return MotionResult((), 0.0, 0.0, suppressed="learning")
        aligned = self._align(norm)
        if aligned is None:
            self.background = norm.copy()
            return MotionResult((), 0.0, 0.0, suppressed="shake")
        frame, shift, analysed = aligned
        n_analysed = max(1, int(np.count_nonzero(analysed)))
        changed = (self._difference(frame) > self.settings.pixel_threshold) & analysed
        changed_percent = 100.0 * float(np.count_nonzero(changed)) / n_analysed
        if changed_percent > self.settings.global_change_percent:
            self.background = norm.copy()  # the frame as it is: nothing moved in from outside or from a mask
            self._still_moving = 0
            return MotionResult((), 0.0, changed_percent, shift, suppressed="global_change")
        blobs = cv2.dilate(changed.astype(np.uint8) * 255, _KERNEL, iterations=2)
        boxes, area = self._boxes(blobs, n_analysed)
        self._learn(frame, blobs, bool(boxes), analysed)
        return MotionResult(tuple(boxes), 100.0 * area / n_analysed, changed_percent, shift)

    def _difference(self, frame: np.ndarray) -> np.ndarray:
        """How far each pixel lies outside the range of the background's 3x3 neighbourhood.

        A plain difference lights up every sharp edge (window frames, lane marks) when the picture is off
        by a fraction of a pixel, which shake compensation always leaves; an edge moved by less than a pixel
        stays within its neighbourhood's range, while a person or a cart covers the background entirely.
        """
        assert self.background is not None
        low = cv2.erode(self.background, _KERNEL)
        high = cv2.dilate(self.background, _KERNEL)
        return np.maximum(cv2.subtract(frame, high), cv2.subtract(low, frame))

    def _boxes(self, blobs: np.ndarray, n_analysed: int) -> tuple[list[Box], float]:
        h, w = blobs.shape
        min_area = self.settings.min_area_percent / 100 * n_analysed
        contours, _ = cv2.findContours(blobs, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        boxes, total = [], 0.0
        for contour in contours:
            area = float(cv2.contourArea(contour))
            if area >= min_area:
                x, y, bw, bh = cv2.boundingRect(contour)
                boxes.append(Box.from_pixels(x, y, bw, bh, w, h, score=round(100.0 * area / n_analysed, 3)))
                total += area
        boxes.sort(key=lambda b: b.area, reverse=True)
        return boxes, total

    def _learn(self, frame: np.ndarray, blobs: np.ndarray, moving: bool, clean: np.ndarray) -> None:
        """Learn ``frame`` where it holds clean picture (``clean``), never the moving object itself."""
        assert self.background is not None
        alpha = self.settings.background_alpha
        self._still_moving = self._still_moving + 1 if moving else 0
        if moving and self._still_moving >= self.settings.absorb_after_frames:  # it stays: the new background
            self.background[clean] = frame[clean]
            self._still_moving = 0
            return
        learn = clean & (blobs == 0) if moving else clean  # moving: learn the light where nothing moves
        where = learn.astype(np.uint8) * 255
        cv2.accumulateWeighted(frame, self.background, alpha, mask=where)


__all__ = ["MotionDetector", "MotionResult"]
