"""What a valid bulletin is (the operator's input, field by field) and how long its command lives.

Kept apart from the HTTP routes so the rules read in one place and every way in (API, CAP import, re-send
to failed loudspeakers, the web UI) applies the same ones:

* :class:`BulletinIn` — what an operator submits; cross-field rules give field-level errors
  (:func:`validated` turns them into a 400 naming the field);
* :func:`lifetime` — one-offs get ``command_ttl_s``; a recurring bulletin's default expiry comes from its
  recurrence (:mod:`hq_server.services.recurrence`), never from ``command_ttl_s`` alone, and a series that
  cannot play before its expiry is refused with a 400 that says why.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from hq_server.config import BulletinSection
from hq_server.errors import ApiError
from hq_server.inputs import ApiInstant, calendar_date
from hq_server.localtime import LOCAL
from hq_server.services.recurrence import SeriesLifetime, next_occurrence, series_lifetime
from hq_server.storage.tables import now
from loaxa_contract.limits import MAX_TEXT_CHARS
from loaxa_contract.models import Priority, Recurrence
from loaxa_contract.topics import valid_id


class Targets(BaseModel):
    model_config = ConfigDict(extra="forbid")
    all: bool = False
    zones: list[Annotated[str, Field(min_length=1, max_length=100)]] = Field(
        default_factory=list, max_length=200, description="Zone slugs or names ('thon-1' or 'Thôn 1')")
    nodes: list[str] = Field(default_factory=list, max_length=2000)

    @model_validator(mode="after")
    def _check(self) -> Targets:
        bad = [x for x in self.nodes if not valid_id(x)]
        if bad:
            raise ValueError(f"không hợp lệ (invalid ids): {', '.join(bad[:5])}")
        if not (self.all or self.zones or self.nodes):
            raise ValueError("chọn ít nhất một đích: all, zones hoặc nodes (choose at least one target)")
        return self


class FieldError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class BulletinIn(BaseModel):
    """What an operator submits; cross-field rules give field-level errors."""

    model_config = ConfigDict(extra="forbid")
    title: str = Field(default="", max_length=200)
    kind: Literal["text", "audio", "relay"] = "text"
    text: str = Field(default="", max_length=MAX_TEXT_CHARS)
    audio_sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    relay_url: str | None = Field(default=None, max_length=2048, pattern=r"^(https?|rtsp|rtmp)://")
    relay_end_at: ApiInstant | None = None
    priority: Priority = Priority.NORMAL
    status: Literal["actual", "test"] = "actual"
    targets: Targets
    send_at: ApiInstant | None = Field(default=None, description="None = now; naive = Asia/Ho_Chi_Minh")
    recurrence: Recurrence | None = None
    repeat: int = Field(default=1, ge=1, le=10)
    chime: bool = False
    volume: int | None = Field(default=None, ge=0, le=100)
    voice: str | None = Field(default=None, max_length=64)
    rate: int | None = Field(default=None, ge=80, le=300)
    expires_at: ApiInstant | None = Field(
        default=None, description="Default: send time + command_ttl_s; a recurring series: its last occurrence + "
                                  "command_ttl_s, or (no end_date) renewed by HQ until cancelled")

    @model_validator(mode="after")
    def _content(self) -> BulletinIn:
        if self.kind == "text" and not self.text.strip():
            raise FieldError("text", "Nội dung bản tin trống (text is required for a text bulletin)")
        if self.kind == "audio" and not self.audio_sha256:
            raise FieldError("audio_sha256", "Cần tải tệp âm thanh lên trước (upload audio first)")
        if self.kind == "relay" and not (self.relay_url and self.relay_end_at):
            raise FieldError("relay_url", "Cần relay_url và relay_end_at (relay needs a URL and an end time)")
        for name in ("start_date", "end_date"):
            value = getattr(self.recurrence, name) if self.recurrence else None
            if value is not None:
                try:
                    calendar_date(value)
                except ValueError as err:
                    raise FieldError(f"recurrence.{name}", str(err)) from err
        start = self.send_at or now()
        if self.expires_at is not None and self.expires_at <= max(start, now()):
            raise FieldError("expires_at", "Thời hạn phải sau thời điểm phát (expiry must be after the send time)")
        return self


def validated(data: dict[str, Any]) -> BulletinIn:
    """``data`` as a :class:`BulletinIn`; a cross-field rule's error becomes a 400 naming its field (other
    validation errors propagate for the API's standard 400)."""
    try:
        return BulletinIn.model_validate(data)
    except ValidationError as err:  # pydantic wraps FieldError; unwrap it for a precise field
        for e in err.errors(include_url=False):
            ctx = e.get("ctx", {}).get("error")
            if isinstance(ctx, FieldError):
                raise ApiError(400, "Dữ liệu không hợp lệ (invalid input)", {ctx.field: str(ctx)}) from err
        raise


@dataclass(frozen=True)
class LifetimeRules:
    ttl: timedelta
    horizon: timedelta
    renew_before: timedelta

    @classmethod
    def from_config(cls, command_ttl_s: float, bulletins: BulletinSection) -> LifetimeRules:
        return cls(timedelta(seconds=command_ttl_s), timedelta(days=bulletins.recurrence_horizon_days),
                   timedelta(days=bulletins.recurrence_renew_before_days))


def _no_occurrence(detail: str) -> ApiError:
    return ApiError(400, "Lịch lặp không có lần phát nào trước khi hết hạn (the recurrence never plays before the "
                         "bulletin expires)", {"recurrence": detail})


def lifetime(rules: LifetimeRules, start: datetime, recurrence: Recurrence | None,
             expires_at: datetime | None) -> SeriesLifetime:
    """``expires_at`` (and ``renew_at`` for an open-ended series) of a bulletin first sent at ``start``.

    An explicit ``expires_at`` wins (never renewed), but a series must still have an occurrence before it.
    """
    if recurrence is None:
        return SeriesLifetime(expires_at or start + rules.ttl, None)
    if expires_at is not None:
        first = next_occurrence(recurrence, start, expires_at)
        if first is None:
            raise _no_occurrence(f"không có lần phát nào trước {expires_at.astimezone(LOCAL):%d/%m/%Y %H:%M} "
                                 f"(no occurrence between the send time and expires_at)")
        return SeriesLifetime(expires_at, None)
    life = series_lifetime(recurrence, start, tail=rules.ttl, horizon=rules.horizon, renew_before=rules.renew_before)
    if life is None:
        end = f" (end_date {recurrence.end_date})" if recurrence.end_date else ""
        raise _no_occurrence(f"không còn lần phát nào sau {start.astimezone(LOCAL):%d/%m/%Y %H:%M}{end} "
                             f"(no occurrence after the send time)")
    return life
