"""Pydantic models of every payload on the wire.

Models are strict (``extra="forbid"``): an unknown field is an error, not silently ignored, so a
typo at HQ is caught at the node and reported in the ack. Field meanings follow CAP 1.2 where they
overlap (``status`` actual/test, ``expires_at``), and priorities follow Circular 39/2020/TT-BTTTT.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from loaxa_contract.limits import MAX_ID_CHARS, MAX_TEXT_CHARS, SCHEMA_VERSION
from loaxa_contract.topics import check_id, parse_target


def utcnow() -> datetime:
    return datetime.now(UTC)


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("timestamp must carry a UTC offset (ISO-8601 with 'Z' or '+07:00')")
    if not 1970 <= value.year < 2200:  # 1970: a Pi without its clock set; near year 1 or 9999 arithmetic overflows
        raise ValueError("timestamp must be between 1970 and 2200")
    return value


def _slug(value: str) -> str:
    return check_id(value, "id")


def _target(value: str) -> str:
    parse_target(value)
    return value


AwareDatetime = Annotated[datetime, AfterValidator(_aware)]
Slug = Annotated[str, Field(max_length=MAX_ID_CHARS), AfterValidator(_slug)]
Ident = Annotated[str, Field(min_length=1, max_length=MAX_ID_CHARS, pattern=r"^[A-Za-z0-9_.:-]+$")]
Target = Annotated[str, AfterValidator(_target)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=False)


class Envelope(Strict):
    v: Literal[1] = SCHEMA_VERSION
    ts: AwareDatetime = Field(default_factory=utcnow, description="When the sender produced the payload (UTC)")


# ---------------------------------------------------------------- commands (HQ → node)


class Priority(StrEnum):
    """The three levels of Circular 39/2020/TT-BTTTT."""

    NORMAL = "normal"  # thông thường: in the programme, per schedule
    PRIORITY = "priority"  # ưu tiên: first in the programme
    EMERGENCY = "emergency"  # khẩn cấp: at once, preempts, ignores quiet hours

    @property
    def rank(self) -> int:
        return {"normal": 0, "priority": 1, "emergency": 2}[self.value]


class BulletinStatus(StrEnum):
    ACTUAL = "actual"
    TEST = "test"  # a drill (CAP "Exercise"/"Test")


class AudioRef(Strict):
    """Audio rendered or uploaded at HQ, fetched by the node by content hash and verified."""

    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    url: str | None = Field(default=None, max_length=2048, description="Defaults to HQ's /audio/{sha256}")
    duration_s: float | None = Field(default=None, ge=0)


class Relay(Strict):
    """A live stream (HTTP/Icecast MP3/AAC/Opus) relayed for a window: the daily 'tiếp âm'."""

    url: str = Field(min_length=8, max_length=2048, pattern=r"^(https?|rtsp|rtmp)://")
    end_at: AwareDatetime


def _calendar_date(value: str | None) -> str | None:
    """``2026-02-30`` matches the pattern but is no day: refuse it here, on both sides of the wire."""
    if value is not None:
        try:
            date.fromisoformat(value)
        except ValueError as err:
            raise ValueError(f"{value!r} is not a calendar date") from err
    return value


CalendarDate = Annotated[str | None, AfterValidator(_calendar_date)]


class Recurrence(Strict):
    """When a bulletin repeats, in the commune's time zone (Asia/Ho_Chi_Minh)."""

    kind: Literal["once", "daily", "weekly", "monthly"]
    at: time = Field(description="Local time of day of each play")
    start_date: CalendarDate = Field(default=None, pattern=r"^\d{4}-\d{2}-\d{2}$")
    end_date: CalendarDate = Field(default=None, pattern=r"^\d{4}-\d{2}-\d{2}$")
    weekdays: list[Annotated[int, Field(ge=0, le=6)]] = Field(default_factory=list, description="0 = Monday")
    month_days: list[Annotated[int, Field(ge=1, le=31)]] = Field(default_factory=list)

    @model_validator(mode="after")
    def _check(self) -> Recurrence:
        if self.kind == "weekly" and not self.weekdays:
            raise ValueError("weekly recurrence needs at least one weekday")
        if self.kind == "monthly" and not self.month_days:
            raise ValueError("monthly recurrence needs at least one day of the month")
        if self.start_date and self.end_date and self.end_date < self.start_date:
            raise ValueError("end_date is before start_date")
        return self


class CommandBase(Envelope):
    """Fields common to every signed command; ``sig`` covers all other fields (canonical JSON)."""

    id: Ident = Field(description="Unique command id; a node handles each id once")
    seq: int = Field(ge=1, description="Monotonically increasing sequence number of the signing HQ")
    target: Target = Field(description="'all', 'zone:NAME' or 'node:ID' — checked against the topic by the node")
    expires_at: AwareDatetime = Field(description="After this instant the command must not be acted on")
    sig: str | None = Field(default=None, description="Ed25519 signature, base64url, over canonical JSON")


class BulletinCommand(CommandBase):
    type: Literal["bulletin"] = "bulletin"
    bulletin_id: Ident
    title: str = Field(default="", max_length=200)
    kind: Literal["text", "audio", "relay"] = "text"
    text: str = Field(default="", max_length=MAX_TEXT_CHARS)
    audio: AudioRef | None = None
    relay: Relay | None = None
    priority: Priority = Priority.NORMAL
    status: BulletinStatus = BulletinStatus.ACTUAL
    play_at: AwareDatetime | None = Field(default=None, description="Synchronised start instant (node clock)")
    recurrence: Recurrence | None = None
    repeat: int = Field(default=1, ge=1, le=10)
    repeat_gap_s: float = Field(default=2.0, ge=0, le=60)
    chime: bool = False
    volume: int | None = Field(default=None, ge=0, le=100)
    voice: str | None = Field(default=None, max_length=64)
    rate: int | None = Field(default=None, ge=80, le=300, description="Words per minute")

    @model_validator(mode="after")
    def _content_matches_kind(self) -> BulletinCommand:
        if self.kind == "text" and not self.text.strip():
            raise ValueError("text bulletin has empty 'text'")
        if self.kind == "audio" and self.audio is None:
            raise ValueError("audio bulletin needs 'audio'")
        if self.kind == "relay" and self.relay is None:
            raise ValueError("relay bulletin needs 'relay'")
        return self


class CancelCommand(CommandBase):
    type: Literal["cancel"] = "cancel"
    bulletin_id: Ident


class PingCommand(CommandBase):
    type: Literal["ping"] = "ping"


class SetVolumeCommand(CommandBase):
    type: Literal["set_volume"] = "set_volume"
    volume: int = Field(ge=0, le=100)


class ProgramWindow(Strict):
    start: time
    end: time
    days: list[Annotated[int, Field(ge=0, le=6)]] = Field(default_factory=lambda: list(range(7)))


class SetProgramScheduleCommand(CommandBase):
    type: Literal["set_program_schedule"] = "set_program_schedule"
    windows: list[ProgramWindow] = Field(max_length=24)
    quiet_start: time | None = None
    quiet_end: time | None = None
    timezone: str = "Asia/Ho_Chi_Minh"


class SnapshotCommand(CommandBase):
    """Ask a camera node for a JPEG snapshot of one camera (uploaded to ``upload_url`` at HQ)."""

    type: Literal["snapshot"] = "snapshot"
    camera: Slug
    upload_url: str | None = Field(default=None, max_length=2048)


class DetectionPictureCommand(CommandBase):
    """Ask a camera node for the picture it kept of one detection event (uploaded to ``upload_url``)."""

    type: Literal["detection_picture"] = "detection_picture"
    camera: Slug
    event_id: Ident
    upload_url: str = Field(max_length=2048)


class LiveViewCommand(CommandBase):
    """Show one camera live at HQ for a while: the node POSTs low-rate JPEG frames, one per request, to
    ``upload_url`` (a one-time session URL) until ``duration_s`` has passed or HQ answers that the view ended.
    The camera's own address and credentials stay on the node."""

    type: Literal["live_view"] = "live_view"
    camera: Slug
    upload_url: str = Field(max_length=2048)
    duration_s: float = Field(gt=0, le=900, description="Stop sending after this long")
    fps: float = Field(gt=0, le=10, description="Frames per second to send")
    width: int = Field(ge=80, le=1920, description="Frame width in pixels; the height keeps the picture's ratio")
    quality: int = Field(default=60, ge=10, le=95, description="JPEG quality")


class SetZonesCommand(CommandBase):
    """HQ's assignment of the zones a node belongs to (HQ is the authority; the node's own configuration is only
    its first claim). The node persists it, listens to exactly these zones' command topics, and reports them in
    its state; addressed to one node (``node:ID``) only."""

    type: Literal["set_zones"] = "set_zones"
    zones: list[Slug] = Field(max_length=20, description="The complete list (replaces the node's zones)")

    @model_validator(mode="after")
    def _one_node(self) -> SetZonesCommand:
        if not self.target.startswith("node:"):
            raise ValueError("set_zones must target one node ('node:ID')")
        if len(set(self.zones)) != len(self.zones):
            raise ValueError("set_zones lists a zone twice")
        return self


Command = Annotated[
    BulletinCommand
    | CancelCommand
    | PingCommand
    | SetVolumeCommand
    | SetProgramScheduleCommand
    | SnapshotCommand
    | DetectionPictureCommand
    | LiveViewCommand
    | SetZonesCommand,
    Field(discriminator="type"),
]


# ---------------------------------------------------------------- node → HQ


class AckStage(StrEnum):
    RECEIVED = "received"
    RENDERED = "rendered"
    SCHEDULED = "scheduled"
    PLAYING = "playing"
    PLAYED = "played"
    INTERRUPTED = "interrupted"  # a restart cut the playback; replayed (playing → played) or dropped next
    REJECTED = "rejected"
    FAILED = "failed"
    EXPIRED = "expired"
    CANCELLED = "cancelled"
    PONG = "pong"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL_STAGES


TERMINAL_STAGES = frozenset(
    {AckStage.PLAYED, AckStage.REJECTED, AckStage.FAILED, AckStage.EXPIRED, AckStage.CANCELLED, AckStage.PONG}
)


class Ack(Envelope):
    node: Slug
    command_id: str = Field(max_length=MAX_ID_CHARS, description="'?' when the command could not be parsed")
    bulletin_id: str | None = Field(default=None, max_length=MAX_ID_CHARS)
    stage: AckStage
    reason: str | None = Field(default=None, max_length=64, description="Machine-readable code")
    detail: str | None = Field(default=None, max_length=1000)
    historical: bool = Field(default=False, description="Produced while offline, sent later")
    started_at: AwareDatetime | None = None
    ended_at: AwareDatetime | None = None
    duration_s: float | None = None
    loudness_dbfs: float | None = None
    occurrence: AwareDatetime | None = Field(
        default=None, description="The scheduled instant of the series occurrence this ack is about (recurring "
                                  "bulletins); HQ keys occurrences by its local date")


class NodeState(Envelope):
    node: Slug
    state: Literal["online", "offline"]
    kind: Literal["speaker", "camera", "mixed"] = "speaker"
    agent_version: str = ""
    zones: list[Slug] = Field(default_factory=list)
    capabilities: list[str] = Field(default_factory=list)


class NodeHealth(Envelope):
    node: Slug
    uptime_s: float = Field(ge=0, le=1e9, description="Seconds since the agent started")
    relay_on: bool | None = None
    volume: int | None = None
    audio_device_ok: bool | None = None
    queue_length: int = 0
    playing: str | None = None
    cache_bytes: int | None = None
    disk_free_bytes: int | None = None
    cpu_temp_c: float | None = None
    clock_offset_ms: float | None = None
    agent_version: str = ""
    historical: bool = False
    bulletins: list[Annotated[str, Field(max_length=MAX_ID_CHARS)]] | None = Field(
        default=None, max_length=1000,
        description="Reconcile: ids of every bulletin the node holds (queued, scheduled, recurring); sent on "
                    "each (re)connect. HQ re-sends what is missing and cancels what it no longer wants.")
    programme_id: str | None = Field(default=None, max_length=MAX_ID_CHARS,
                                     description="Command id of the set_program_schedule in force, if any")
    problems: dict[Annotated[str, Field(max_length=64)], Annotated[str, Field(max_length=200)]] | None = Field(
        default=None, max_length=20,
        description="What is wrong with the node (code → detail), e.g. duplicate_node_id, "
                    "worker_restarted:player; absent when all is well")


class CameraStatus(StrEnum):
    OK = "ok"
    OFFLINE = "offline"
    FROZEN = "frozen"
    BLACK = "black"
    COVERED = "covered"
    BLURRED = "blurred"
    LOW_FPS = "low_fps"
    WRONG_RESOLUTION = "wrong_resolution"
    UNKNOWN = "unknown"


class CameraHealth(Envelope):
    camera: Slug
    node: Slug
    name: str | None = Field(default=None, max_length=200,
                             description="The camera's name as configured on the node (e.g. 'Cổng trường')")
    status: CameraStatus
    since: AwareDatetime
    reachable: bool
    fps: float | None = None
    width: int | None = None
    height: int | None = None
    brightness: float | None = None
    sharpness: float | None = None
    frame_diff: float | None = None
    first_frame_ms: float | None = None
    last_frame_at: AwareDatetime | None = None
    detail: str | None = None


class DetectionKind(StrEnum):
    MOTION = "motion"
    PERSON = "person"


class DetectionBox(Strict):
    """A rectangle in fractions (0..1) of the picture: top-left corner, width, height."""

    x: float = Field(ge=0, le=1)
    y: float = Field(ge=0, le=1)
    w: float = Field(ge=0, le=1)
    h: float = Field(ge=0, le=1)
    score: float | None = Field(default=None, ge=-100, le=100)


class DetectionEvent(Envelope):
    """Something detected in front of a camera (node → HQ on ``node/{node}/camera/{camera}/event``).

    HQ takes the node and the camera from the topic, never from the payload; ``camera`` must agree.
    The node keeps the event's picture and uploads it when HQ sends a ``detection_picture`` command.
    """

    id: Ident = Field(description="Event id, unique on the node")
    camera: Slug
    kind: DetectionKind
    at: AwareDatetime = Field(description="When the confirming sample was taken")
    score: float = Field(ge=-100, le=1000, description="person: best HOG SVM margin; motion: moving area in %")
    boxes: list[DetectionBox] = Field(default_factory=list, max_length=32)
    width: int | None = Field(default=None, gt=0, le=16384, description="Picture size in pixels")
    height: int | None = Field(default=None, gt=0, le=16384)
    picture: bool = Field(default=True, description="The node holds a JPEG of the moment")
    historical: bool = Field(default=False, description="Detected while the link was down, sent later")

