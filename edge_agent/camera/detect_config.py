"""Detection settings of one camera: masks, privacy masks, active hours, motion and people detection.

Regions are polygons in *fractions* of the picture (x from the left, y from the top, 0..1), so one
configuration survives a change of stream resolution and can be drawn on any snapshot of the camera.
Two kinds, with different duties:

* ``detection.masks`` — regions *ignored* by motion detection (a road's traffic, a swaying tree): they
  are still in pictures;
* ``CameraConfig.privacy_masks`` — regions *never analysed nor shown* (the inside of a house): blacked
  out on every decoded frame before anything else looks at it, including snapshots and event pictures.
"""

from __future__ import annotations

import re
from datetime import datetime, time
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Fraction = Annotated[float, Field(ge=0.0, le=1.0)]
Point = tuple[Fraction, Fraction]
Polygon = Annotated[list[Point], Field(min_length=3, max_length=64)]
"""Corners ``[[x, y], ...]`` in fractions of the picture's width and height (0..1); at least 3."""

DetectionKind = Literal["motion", "person"]

_WINDOW_RE = re.compile(r"^(\d{2}):(\d{2})-(\d{2}):(\d{2})$")


def parse_window(text: str) -> tuple[time, time]:
    """``"22:00-05:30"`` → (22:00, 05:30); a window whose end is before its start runs past midnight."""
    m = _WINDOW_RE.match(text.strip())
    if not m:
        raise ValueError(f"active hours {text!r} must look like 'HH:MM-HH:MM' (e.g. '22:00-05:00')")
    h1, m1, h2, m2 = (int(g) for g in m.groups())
    if h1 > 23 or h2 > 24 or m1 > 59 or m2 > 59 or (h2 == 24 and m2):
        raise ValueError(f"active hours {text!r}: not a time of day")
    end = time(0, 0) if h2 == 24 else time(h2, m2)
    if time(h1, m1) == end:
        raise ValueError(f"active hours {text!r} is empty (start equals end); omit active_hours for all day")
    return time(h1, m1), end


def in_windows(windows: list[str], local: time) -> bool:
    """True when ``local`` falls in one of the windows (no windows = always)."""
    if not windows:
        return True
    for text in windows:
        start, end = parse_window(text)
        if start < end:
            if start <= local < end:
                return True
        elif local >= start or local < end:  # runs past midnight ('22:00-05:00', '22:00-24:00')
            return True
    return False


class MotionSettings(BaseModel):
    """Background subtraction on a small, contrast-normalised grey picture."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    sensitivity: int = Field(
        default=70,
        ge=1,
        le=100,
        description="1-100: higher sees fainter changes. A pixel moves when it differs from the learnt background "
        "by more than 3 + (100 - sensitivity) x 0.9 grey levels (70 → 30) on the normalised picture",
    )
    min_area_percent: float = Field(
        default=0.3,
        gt=0,
        le=100,
        description="Smallest moving blob that counts, in % of the analysed picture (a person far away at the "
        "default 160 px analysis width is about 0.5 %)",
    )
    width: int = Field(default=160, ge=48, le=640, description="Analysis width in pixels (height follows)")
    background_alpha: float = Field(
        default=0.1, gt=0, le=1, description="How fast the background learns (per analysed frame, where nothing moves)"
    )
    absorb_after_frames: int = Field(
        default=30,
        ge=1,
        le=10_000,
        description="A change still there after this many analysed frames in a row becomes background (a parked "
        "car, a moved chair)",
    )
    global_change_percent: float = Field(
        default=35.0,
        gt=0,
        le=100,
        description="When more than this % of the picture changes at once it is the light (cloud, street lamp, "
        "infra-red switch) or the camera (shake, knock), not something moving: the background restarts, no event",
    )
    max_shift_percent: float = Field(
        default=4.0,
        ge=0,
        le=50,
        description="Camera shake up to this % of the width is measured (phase correlation) and compensated; a "
        "larger jump restarts the background (no event)",
    )

    @property
    def pixel_threshold(self) -> float:
        return 3.0 + (100 - self.sensitivity) * 0.9


class PeopleSettings(BaseModel):
    """OpenCV's HOG people detector (weights ship inside the OpenCV package), run on moving regions only."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(default=True, description="Look for people where something moves")
    min_score: float = Field(
        default=0.5, ge=-5, le=10, description="Lowest HOG SVM margin kept as a person (typical hits 0.5-3)"
    )
    scale: float = Field(default=1.05, gt=1.0, le=2.0, description="HOG image pyramid step (larger = faster, coarser)")
    min_roi_height: int = Field(
        default=200,
        ge=128,
        le=2000,
        description="A moving region is enlarged to at least this many pixels high before HOG (its window is "
        "64x128 px: smaller people are found only after enlargement)",
    )
    max_roi_height: int = Field(
        default=400, ge=128, le=4000, description="… and shrunk to at most this many pixels high (bounds the cost)"
    )

    @model_validator(mode="after")
    def _check(self) -> PeopleSettings:
        if self.max_roi_height < self.min_roi_height:
            raise ValueError("people.max_roi_height must be >= people.min_roi_height")
        return self


class DetectionConfig(BaseModel):
    """What to detect on one camera, when, and where not to look."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(default=True, description="Off keeps the settings but detects nothing")
    events: list[DetectionKind] = Field(
        default_factory=lambda: list[DetectionKind](["person"]),
        min_length=1,
        description="Kinds that raise an event: 'person' (people detection) and/or 'motion' (anything moving)",
    )
    masks: list[Polygon] = Field(
        default_factory=list, max_length=32, description="Regions ignored by motion detection (still in pictures)"
    )
    active_hours: list[str] = Field(
        default_factory=list,
        max_length=8,
        description="Local windows 'HH:MM-HH:MM' (may pass midnight, e.g. '22:00-05:00'); empty = all day",
    )
    timezone: str = Field(default="Asia/Ho_Chi_Minh", description="Time zone of active_hours")
    sample_interval_s: float = Field(
        default=2.0,
        gt=0,
        le=3600,
        description="Seconds between samples while detection is active (replaces the health interval when shorter): "
        "someone in view for less than this may be missed",
    )
    confirm_k: int = Field(default=2, ge=1, le=20, description="An event needs a detection in k ...")
    confirm_n: int = Field(default=3, ge=1, le=20, description="... of the last n samples")
    end_after_s: float = Field(
        default=30.0,
        ge=0,
        le=86_400,
        description="An event lasts until nothing of its kind was seen for this long; only then can the same kind "
        "raise a new event (one person crossing = one event)",
    )
    picture_quality: int = Field(default=80, ge=30, le=95, description="JPEG quality of event pictures")
    motion: MotionSettings = Field(default_factory=MotionSettings)
    people: PeopleSettings = Field(default_factory=PeopleSettings)

    @field_validator("active_hours")
    @classmethod
    def _check_hours(cls, value: list[str]) -> list[str]:
        for text in value:
            parse_window(text)
        return value

    @field_validator("timezone")
    @classmethod
    def _check_tz(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (e.g. 'Asia/Ho_Chi_Minh')") from None
        return value

    @model_validator(mode="after")
    def _check(self) -> DetectionConfig:
        if self.confirm_k > self.confirm_n:
            raise ValueError(f"confirm_k ({self.confirm_k}) must be <= confirm_n ({self.confirm_n})")
        if "person" in self.events and not self.people.enabled:
            raise ValueError("events include 'person' but people.enabled is false")
        return self

    def active_at(self, at: datetime) -> bool:
        """Detection runs at ``at`` (aware): enabled and inside the active hours, in ``timezone``."""
        if not self.enabled:
            return False
        return in_windows(self.active_hours, at.astimezone(ZoneInfo(self.timezone)).time())


__all__ = [
    "DetectionConfig",
    "DetectionKind",
    "MotionSettings",
    "PeopleSettings",
    "Point",
    "Polygon",
    "in_windows",
    "parse_window",
]
