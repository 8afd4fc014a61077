"""Camera configuration: one :class:`CameraConfig` per camera, thresholds in :class:`CameraThresholds`.

Credentials live in ``username``/``password`` (never in ``url``); they are inserted into the URL only
when OpenCV opens the stream, and every log line uses :attr:`CameraConfig.safe_url`.
"""

from __future__ import annotations

import re
from typing import Annotated
from urllib.parse import quote, urlsplit, urlunsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from edge_agent.camera.detect_config import DetectionConfig, Polygon
from loaxa_contract.topics import check_id

_USERINFO_RE = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)[^/@\s]*@")


def redact(text: str, *secrets: str | None) -> str:
    """Remove credentials from ``text``: any ``scheme://user:pass@`` userinfo and each given secret."""
    out = _USERINFO_RE.sub(r"\g<scheme>***@", text)
    for secret in secrets:
        if secret:
            out = out.replace(secret, "***")
            quoted = quote(secret, safe="")
            if quoted != secret:
                out = out.replace(quoted, "***")
    return out


def _slug(value: str) -> str:
    return check_id(value, "camera id")


class CameraThresholds(BaseModel):
    """Per-camera limits that turn one sample's metrics into a raw status."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    black_brightness_max: float = Field(
        default=20.0, ge=0, le=255, description="Mean grey level (0-255) at or below which a uniform picture is 'black'"
    )
    uniform_std_max: float = Field(
        default=10.0,
        ge=0,
        le=128,
        description="Standard deviation of grey levels below which the picture is uniform (black or covered lens)",
    )
    covered_brightness_max: float = Field(
        default=255.0,
        ge=0,
        le=255,
        description="A uniform picture brighter than black and at most this bright is 'covered'",
    )
    blur_sharpness_min: float = Field(
        default=40.0, ge=0, description="Laplacian variance below which the picture is 'blurred' (absolute)"
    )
    blur_drop_ratio: float = Field(
        default=0.2,
        ge=0,
        le=1,
        description="Also 'blurred' when sharpness falls below this fraction of the camera's learnt healthy "
        "baseline (0 disables the relative test)",
    )
    motion_pixel_delta: float = Field(
        default=6.0,
        ge=0,
        le=255,
        description="A pixel of the motion image (motion_width px wide, blurred grey) 'changed' when it moved by more "
        "than this many grey levels between two frames; codec re-encoding of a still picture moves pixels by <= 1",
    )
    frozen_motion_max: float = Field(
        default=0.05,
        ge=0,
        le=100,
        description="'frozen' when, in every pair of consecutive frames of a sample (and the previous sample's last "
        "frame), at most this percentage of pixels changed by more than motion_pixel_delta",
    )
    fps_tolerance: float = Field(
        default=0.8, gt=0, le=1,
        description="'low_fps' when the camera's fps (RTSP: by the stream's timestamps, else by arrival times) "
        "< min_fps × this tolerance",
    )

    @model_validator(mode="after")
    def _check(self) -> CameraThresholds:
        if self.covered_brightness_max < self.black_brightness_max:
            raise ValueError(
                f"covered_brightness_max ({self.covered_brightness_max}) must be >= black_brightness_max "
                f"({self.black_brightness_max})"
            )
        return self


class Hysteresis(BaseModel):
    """How many consecutive samples a new status must hold before it is reported."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    change_after: int = Field(default=3, ge=1, le=100, description="Samples for any change not listed below")
    offline_after: int = Field(default=2, ge=1, le=100, description="Samples before 'offline' is reported")
    recover_after: int = Field(default=2, ge=1, le=100, description="Samples before a return to 'ok' is reported")


class CameraConfig(BaseModel):
    """One security camera watched by the node."""

    # hide_input_in_errors: a URL with credentials typed into 'url' must not reach the error text or logs.
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    id: Annotated[str, AfterValidator(_slug)] = Field(description="Camera slug, used in topics and logs")
    name: str = Field(default="", max_length=200, description="Human-readable name (e.g. 'Cổng trường')")
    url: str = Field(description="rtsp://, http:// or https:// stream URL, without credentials")
    username: str | None = Field(default=None, description="Stream user name (inserted into the URL at open)")
    password: SecretStr | None = Field(default=None, description="Stream password (never logged)")
    expected_width: int | None = Field(default=None, gt=0, le=16384, description="Expected frame width in pixels")
    expected_height: int | None = Field(default=None, gt=0, le=16384, description="Expected frame height in pixels")
    min_fps: float | None = Field(default=None, gt=0, le=240, description="Lowest acceptable frame rate")
    sample_interval_s: float = Field(default=10.0, gt=0, le=3600, description="Seconds between two samples")
    confirm_interval_s: float = Field(
        default=1.0,
        gt=0,
        le=3600,
        description="Seconds to the next sample while a new status awaits confirmation (fast, non-flapping alerts)",
    )
    frames_per_sample: int = Field(default=6, ge=2, le=100, description="Frames read per sample (fps and change)")
    probe_timeout_s: float = Field(
        default=2.0,
        gt=0,
        le=60,
        description="Time allowed for the TCP connect + RTSP OPTIONS / HTTP status line probe before OpenCV; "
        "bounds how fast a silent camera is reported offline",
    )
    open_timeout_s: float = Field(default=3.0, gt=0, le=60, description="OpenCV open timeout")
    read_timeout_s: float = Field(default=3.0, gt=0, le=60, description="OpenCV per-frame read timeout")
    analysis_width: int = Field(
        default=320, ge=32, le=4096, description="Frames wider than this are shrunk to it before analysis"
    )
    motion_width: int = Field(
        default=160,
        ge=16,
        le=4096,
        description="The analysis image is shrunk to this width and blurred (3x3) before the frozen test, which "
        "removes sensor and codec noise but keeps moving objects",
    )
    thresholds: CameraThresholds = Field(default_factory=CameraThresholds, description="Classification limits")
    privacy_masks: list[Polygon] = Field(
        default_factory=list,
        max_length=32,
        description="Regions never analysed nor shown (e.g. the inside of a house): blacked out on every frame "
        "right after decoding, before health analysis, detection, snapshots and event pictures. Corners "
        "[[x, y], ...] in fractions (0..1) of the picture's width and height",
    )
    detection: DetectionConfig | None = Field(
        default=None, description="Motion / people detection at this camera (none when omitted)"
    )
    hysteresis: Hysteresis = Field(default_factory=Hysteresis, description="Anti-flapping sample counts")

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("camera url is empty")
        parts = urlsplit(value)
        if parts.scheme not in ("rtsp", "rtsps", "http", "https"):
            raise ValueError(
                f"camera url must start with rtsp://, rtsps://, http:// or https:// (got {redact(value)!r})"
            )
        if not parts.hostname:
            raise ValueError(f"camera url has no host: {redact(value)!r}")
        if "@" in parts.netloc:
            raise ValueError("put credentials in 'username'/'password', not in the camera url")
        return value

    @model_validator(mode="after")
    def _check(self) -> CameraConfig:
        if (self.expected_width is None) != (self.expected_height is None):
            raise ValueError("set both expected_width and expected_height, or neither")
        if self.password is not None and self.username is None:
            raise ValueError("password given without username")
        if self.confirm_interval_s > self.sample_interval_s:
            raise ValueError(
                f"confirm_interval_s ({self.confirm_interval_s}) must be <= "
                f"sample_interval_s ({self.sample_interval_s})"
            )
        return self

    @property
    def worst_offline_s(self) -> float:
        """Longest time from a camera going silent to 'offline' being reported (see docs/camera.md).

        The fault lands just after a good sample: the next sample starts ``sample_interval_s`` later and its
        probe gives up after ``probe_timeout_s``; each of the ``offline_after - 1`` confirming samples starts
        ``confirm_interval_s`` after the previous one started (or at once when that one took longer) and again
        waits ``probe_timeout_s``.
        """
        extra = self.hysteresis.offline_after - 1
        return (
            self.sample_interval_s + self.probe_timeout_s + extra * max(self.confirm_interval_s, self.probe_timeout_s)
        )

    @property
    def safe_url(self) -> str:
        """The URL as it may appear in logs and errors (never carries credentials)."""
        return redact(self.url, self.secret)

    @property
    def secret(self) -> str | None:
        return self.password.get_secret_value() if self.password else None

    def open_url(self) -> str:
        """The URL handed to OpenCV, with credentials inserted. Never log it."""
        if not self.username:
            return self.url
        parts = urlsplit(self.url)
        userinfo = quote(self.username, safe="")
        if self.password is not None:
            userinfo += ":" + quote(self.password.get_secret_value(), safe="")
        netloc = f"{userinfo}@{parts.netloc}"
        return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))

    def redact(self, text: str) -> str:
        """Remove this camera's credentials from ``text`` (for error messages from OpenCV/FFmpeg)."""
        return redact(text, self.secret)
