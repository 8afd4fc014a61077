"""Pure police-alert rules for detection events: which cameras, which kinds, which hours, how often.

A rule matches an event when the camera is one of its cameras (or it names none), the kind is one of
its kinds, and the event's local time falls in one of its windows (or it has none). The first matching
rule decides. Rate limiting: a rule raises at most one alert per camera every ``min_interval_s``; the
events in between are stored (and listed by the API) but do not ring at the police post, so a busy
market does not flood it. The next alert counts what was held back.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime, time
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator

from loaxa_contract.topics import check_id

_WINDOW_RE = re.compile(r"^(\d{2}):(\d{2})-(\d{2}):(\d{2})$")
Kind = Literal["person", "motion"]
KIND_WORDS = {"person": "Phát hiện người", "motion": "Phát hiện chuyển động"}


def _window(text: str) -> tuple[time, time]:
    m = _WINDOW_RE.match(text.strip())
    if not m:
        raise ValueError(f"hours {text!r} must look like 'HH:MM-HH:MM' (e.g. '22:00-05:00')")
    h1, m1, h2, m2 = (int(g) for g in m.groups())
    if h1 > 23 or h2 > 24 or m1 > 59 or m2 > 59 or (h2 == 24 and m2):
        raise ValueError(f"hours {text!r}: not a time of day")
    start, end = time(h1, m1), time(0, 0) if h2 == 24 else time(h2, m2)
    if start == end:
        raise ValueError(f"hours {text!r} is empty; omit 'hours' for all day")
    return start, end


class AlertRule(BaseModel):
    """One police-alert rule (HQ configuration, ``detections.rules``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=64, description="Shown in logs and the API (e.g. 'cho-dem')")
    cameras: list[str] = Field(default_factory=list, description="Camera ids; empty = every camera")
    kinds: list[Kind] = Field(default_factory=lambda: list[Kind](["person"]), min_length=1)
    hours: list[str] = Field(default_factory=list, description="Local windows 'HH:MM-HH:MM'; empty = all day")
    timezone: str = Field(default="Asia/Ho_Chi_Minh")
    min_interval_s: float = Field(default=600, ge=0, le=86_400,
                                  description="At most one alert per camera per this many seconds")
    severity: Literal["info", "warning", "critical"] = "warning"

    @field_validator("cameras")
    @classmethod
    def _ids(cls, value: list[str]) -> list[str]:
        return [check_id(v, "camera") for v in value]

    @field_validator("hours")
    @classmethod
    def _hours(cls, value: list[str]) -> list[str]:
        for text in value:
            _window(text)
        return value

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    def local(self, at: datetime) -> datetime:
        return at.astimezone(ZoneInfo(self.timezone))

    def in_hours(self, at: datetime) -> bool:
        if not self.hours:
            return True
        t = self.local(at).time()
        for text in self.hours:
            start, end = _window(text)
            if (start <= t < end) if start < end else (t >= start or t < end):
                return True
        return False

    def matches(self, camera: str, kind: str, at: datetime) -> bool:
        return (not self.cameras or camera in self.cameras) and kind in self.kinds and self.in_hours(at)


def first_match(rules: Sequence[AlertRule], camera: str, kind: str, at: datetime) -> AlertRule | None:
    return next((r for r in rules if r.matches(camera, kind, at)), None)


def rate_limited(rule: AlertRule, last_alert_at: datetime | None, at: datetime) -> bool:
    """True when ``rule`` already alerted for this camera less than ``min_interval_s`` before ``at``."""
    return last_alert_at is not None and (at - last_alert_at).total_seconds() < rule.min_interval_s


def alert_text(kind: str, camera_label: str, at: datetime, rule: AlertRule, held_back: int = 0,
               late: bool = False) -> str:
    """Plain Vietnamese for the police post: what, where (the camera's name), when (local time)."""
    local = rule.local(at)
    text = f"{KIND_WORDS.get(kind, kind)} tại camera {camera_label} lúc {local:%H:%M} ngày {local:%d/%m/%Y}."
    if held_back:
        text += f" Có thêm {held_back} lần phát hiện khác tại camera này từ cảnh báo trước."
    if late:
        text += " (Báo muộn: máy trạm mất kết nối lúc phát hiện.)"
    return text


__all__ = ["KIND_WORDS", "AlertRule", "alert_text", "first_match", "rate_limited"]
