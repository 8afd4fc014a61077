"""The HQ schema as SQLAlchemy ORM classes; Alembic migrations in hq_server/migrations mirror it.

Timestamps are always timezone-aware UTC (:class:`UtcDateTime`), on SQLite as on PostgreSQL, so
comparisons with ``utcnow()`` never mix naive and aware values.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator


class UtcDateTime(TypeDecorator[datetime]):
    """Stores UTC, returns aware datetimes: SQLite has no time zones and would hand back naive values."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def now() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UtcDateTime(), dict[str, Any]: sa.JSON(), list[Any]: sa.JSON()
    }


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(sa.String(64), unique=True)
    full_name: Mapped[str] = mapped_column(sa.String(200), default="")
    role: Mapped[str] = mapped_column(sa.String(16))
    password_hash: Mapped[str] = mapped_column(sa.String(255))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=now)


class LoginCounter(Base):
    """Login attempts of one user name or one client address in the current window (the login limiter).

    In the database, not in memory, so several HQ processes on one PostgreSQL share one limit, and each
    attempt is reserved by one atomic upsert before its password is checked (hq_server/services/login_limiter.py).
    """

    __tablename__ = "login_counters"
    key: Mapped[str] = mapped_column(sa.String(120), primary_key=True)  # "user:<name>" or "ip:<address>"
    window_start: Mapped[datetime] = mapped_column(index=True)
    count: Mapped[int] = mapped_column(default=0)


class ApiToken(Base):
    __tablename__ = "api_tokens"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(sa.String(100), default="")
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=now)
    last_used_at: Mapped[datetime | None]
    revoked: Mapped[bool] = mapped_column(default=False)


class WebSession(Base):
    __tablename__ = "web_sessions"
    token_hash: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    csrf_token: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(default=now)
    expires_at: Mapped[datetime]
    ip: Mapped[str] = mapped_column(sa.String(64), default="")


class AuditEntry(Base):
    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=now, index=True)
    username: Mapped[str] = mapped_column(sa.String(64), default="")
    role: Mapped[str] = mapped_column(sa.String(16), default="")
    action: Mapped[str] = mapped_column(sa.String(100))
    target: Mapped[str] = mapped_column(sa.String(200), default="")
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
    ip: Mapped[str] = mapped_column(sa.String(64), default="")
    status: Mapped[int] = mapped_column(default=0)


class Bulletin(Base):
    __tablename__ = "bulletins"
    id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    title: Mapped[str] = mapped_column(sa.String(200), default="")
    kind: Mapped[str] = mapped_column(sa.String(8), default="text")
    text: Mapped[str] = mapped_column(sa.Text, default="")
    audio_sha256: Mapped[str | None] = mapped_column(sa.String(64))
    audio_duration_s: Mapped[float | None]
    relay_url: Mapped[str | None] = mapped_column(sa.String(2048))
    relay_end_at: Mapped[datetime | None]
    priority: Mapped[str] = mapped_column(sa.String(16), default="normal")
    status: Mapped[str] = mapped_column(sa.String(8), default="actual")
    targets: Mapped[dict[str, Any]] = mapped_column(default=dict)
    send_at: Mapped[datetime | None]
    recurrence: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)
    repeat: Mapped[int] = mapped_column(default=1)
    chime: Mapped[bool] = mapped_column(default=False)
    volume: Mapped[int | None]
    voice: Mapped[str | None] = mapped_column(sa.String(64))
    rate: Mapped[int | None]
    expires_at: Mapped[datetime]
    state: Mapped[str] = mapped_column(sa.String(20), index=True)
    author: Mapped[str] = mapped_column(sa.String(64))
    approved_by: Mapped[str | None] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(default=now)
    updated_at: Mapped[datetime] = mapped_column(default=now)
    sent_at: Mapped[datetime | None]
    play_at: Mapped[datetime | None]
    cancelled_by: Mapped[str | None] = mapped_column(sa.String(64))
    cap_identifier: Mapped[str | None] = mapped_column(sa.String(200), index=True)  # imported from CAP 1.2
    cap_sender: Mapped[str | None] = mapped_column(sa.String(200))
    state_reason: Mapped[str | None] = mapped_column(sa.String(300))  # why expired/failed, or partial plays
    renew_at: Mapped[datetime | None] = mapped_column(index=True)  # open-ended series: when HQ re-signs it
    renewed_at: Mapped[datetime | None]  # last renewal (nodes offline then get it on reconnect)
    # how the audio sounds: engine(s) and voice(s) that rendered it, quality class neural/robotic/human,
    # and why a better voice was not used (shown to the broadcaster, flagged when robotic)
    speech_engine: Mapped[str | None] = mapped_column(sa.String(100))
    speech_voice: Mapped[str | None] = mapped_column(sa.String(200))
    speech_quality: Mapped[str | None] = mapped_column(sa.String(16))
    speech_note: Mapped[str | None] = mapped_column(sa.String(500))


class CommandLog(Base):
    """Every command HQ signed and published: maps a command id back to its bulletin for acks."""

    __tablename__ = "commands"
    id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    type: Mapped[str] = mapped_column(sa.String(24))
    bulletin_id: Mapped[str | None] = mapped_column(sa.String(64), index=True)
    target: Mapped[str] = mapped_column(sa.String(100))
    sent_at: Mapped[datetime] = mapped_column(default=now)  # signed and logged
    expires_at: Mapped[datetime]
    published_at: Mapped[datetime | None]  # the broker took it (PUBACK); empty: never published


class HqInstance(Base):
    """An HQ process sharing this database: its MQTT session's client id, so a peer can take the session over
    (and end it) when the process is gone (see hq_server/services/coordination.py)."""

    __tablename__ = "hq_instances"
    id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    client_id: Mapped[str] = mapped_column(sa.String(200))
    host: Mapped[str] = mapped_column(sa.String(100), default="")
    pid: Mapped[int] = mapped_column(default=0)
    started_at: Mapped[datetime] = mapped_column(default=now)
    seen_at: Mapped[datetime] = mapped_column(default=now)


class Delivery(Base):
    __tablename__ = "deliveries"
    __table_args__ = (sa.UniqueConstraint("bulletin_id", "node_id", name="uq_delivery_bulletin_node"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    bulletin_id: Mapped[str] = mapped_column(sa.ForeignKey("bulletins.id", ondelete="CASCADE"), index=True)
    node_id: Mapped[str] = mapped_column(sa.String(64), index=True)
    state: Mapped[str] = mapped_column(sa.String(16), default="pending")
    reason: Mapped[str | None] = mapped_column(sa.String(200))
    command_id: Mapped[str | None] = mapped_column(sa.String(64))
    attempts: Mapped[int] = mapped_column(default=0)
    last_sent_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=now)
    started_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    duration_s: Mapped[float | None]


class Node(Base):
    __tablename__ = "nodes"
    id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(16), default="speaker")
    zones: Mapped[list[Any]] = mapped_column(default=list)  # HQ's record: the node's claim until HQ assigns
    zones_assigned: Mapped[bool] = mapped_column(default=False, server_default=sa.false())  # HQ is the authority
    reported_zones: Mapped[list[Any] | None] = mapped_column(sa.JSON)  # what the node says it listens to
    location: Mapped[str] = mapped_column(sa.String(200), default="")
    lat: Mapped[float | None]
    lon: Mapped[float | None]
    registered: Mapped[bool] = mapped_column(default=False)
    state: Mapped[str] = mapped_column(sa.String(16), default="unknown")
    state_since: Mapped[datetime] = mapped_column(default=now)
    last_seen_at: Mapped[datetime | None]
    agent_version: Mapped[str] = mapped_column(sa.String(64), default="")
    last_health: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)
    last_uptime_s: Mapped[float | None]
    offline_alerted: Mapped[bool] = mapped_column(default=False)


class NodeEvent(Base):
    """online / offline / reboot: the disconnect, reconnect and reboot times reported upward."""

    __tablename__ = "node_events"
    id: Mapped[int] = mapped_column(primary_key=True)
    node_id: Mapped[str] = mapped_column(sa.String(64), index=True)
    at: Mapped[datetime] = mapped_column(default=now)
    event: Mapped[str] = mapped_column(sa.String(16))
    detail: Mapped[str] = mapped_column(sa.String(200), default="")


class Camera(Base):
    __tablename__ = "cameras"
    id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    name: Mapped[str | None] = mapped_column(sa.String(200))  # as configured on the node ("Cổng trường")
    node_id: Mapped[str] = mapped_column(sa.String(64), default="")
    zone: Mapped[str | None] = mapped_column(sa.String(64))
    location: Mapped[str] = mapped_column(sa.String(200), default="")
    lat: Mapped[float | None]
    lon: Mapped[float | None]
    registered: Mapped[bool] = mapped_column(default=False)
    status: Mapped[str] = mapped_column(sa.String(20), default="unknown")
    status_since: Mapped[datetime] = mapped_column(default=now)
    last_health: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)


class CameraEvent(Base):
    __tablename__ = "camera_events"
    id: Mapped[int] = mapped_column(primary_key=True)
    camera_id: Mapped[str] = mapped_column(sa.String(64), index=True)
    at: Mapped[datetime] = mapped_column(default=now)
    status: Mapped[str] = mapped_column(sa.String(20))
    detail: Mapped[str] = mapped_column(sa.String(1000), default="")


class Alert(Base):
    __tablename__ = "alerts"
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=now, index=True)
    kind: Mapped[str] = mapped_column(sa.String(32))
    severity: Mapped[str] = mapped_column(sa.String(16), default="warning")
    subject: Mapped[str] = mapped_column(sa.String(64))
    message: Mapped[str] = mapped_column(sa.String(1000))
    delivered: Mapped[bool] = mapped_column(default=False)
    delivery_error: Mapped[str | None] = mapped_column(sa.String(500))
    delivery_attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    delivery_pending: Mapped[bool] = mapped_column(default=False, server_default=sa.false())  # more tries due
    last_attempt_at: Mapped[datetime | None]
    acknowledged_by: Mapped[str | None] = mapped_column(sa.String(64))
    acknowledged_at: Mapped[datetime | None]
    acknowledged_note: Mapped[str | None] = mapped_column(sa.String(500))  # what the officer did or saw
    detail: Mapped[str | None] = mapped_column(sa.String(1000))  # the technical detail, apart from the message
    context: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)  # e.g. the camera: id, name, node, zone


class Snapshot(Base):
    """One snapshot request: a one-time upload token (only its hash), then the stored JPEG."""

    __tablename__ = "snapshots"
    id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)  # = the snapshot command's id
    camera_id: Mapped[str] = mapped_column(sa.String(64), index=True)
    node_id: Mapped[str] = mapped_column(sa.String(64))
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    requested_by: Mapped[str] = mapped_column(sa.String(64))
    requested_at: Mapped[datetime] = mapped_column(default=now)
    token_expires_at: Mapped[datetime]
    state: Mapped[str] = mapped_column(sa.String(16), default="requested")  # requested, uploaded, failed
    reason: Mapped[str | None] = mapped_column(sa.String(200))
    uploaded_at: Mapped[datetime | None]
    size: Mapped[int | None]
    sha256: Mapped[str | None] = mapped_column(sa.String(64))
    file: Mapped[str | None] = mapped_column(sa.String(300))  # relative to the snapshot directory


class DesiredSetting(Base):
    """What HQ wants: a programme or a volume for a zone or a node (a node's own value wins)."""

    __tablename__ = "desired_settings"
    __table_args__ = (sa.UniqueConstraint("scope", "scope_id", "kind", name="uq_desired_scope_kind"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    scope: Mapped[str] = mapped_column(sa.String(8))  # zone, node
    scope_id: Mapped[str] = mapped_column(sa.String(64))
    kind: Mapped[str] = mapped_column(sa.String(16))  # programme, volume
    value: Mapped[dict[str, Any]] = mapped_column(default=dict)  # the command's fields
    updated_by: Mapped[str] = mapped_column(sa.String(64), default="")
    updated_at: Mapped[datetime] = mapped_column(default=now)


class NodeSetting(Base):
    """Per node and kind: the effective value last sent, by which command, and whether the node applied it."""

    __tablename__ = "node_settings"
    node_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(16), primary_key=True)
    value: Mapped[dict[str, Any]] = mapped_column(default=dict)
    source: Mapped[str] = mapped_column(sa.String(80), default="")  # zone:NAME or node:ID
    command_id: Mapped[str | None] = mapped_column(sa.String(64))
    state: Mapped[str] = mapped_column(sa.String(16), default="pending")  # pending, sent, applied, failed
    reason: Mapped[str | None] = mapped_column(sa.String(200))
    attempts: Mapped[int] = mapped_column(default=0)
    sent_at: Mapped[datetime | None]
    applied_at: Mapped[datetime | None]


class Occurrence(Base):
    """One occurrence of a recurring bulletin on one node (local date in Asia/Ho_Chi_Minh)."""

    __tablename__ = "occurrences"
    __table_args__ = (sa.UniqueConstraint("bulletin_id", "node_id", "occurrence", name="uq_occurrence"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    bulletin_id: Mapped[str] = mapped_column(sa.ForeignKey("bulletins.id", ondelete="CASCADE"), index=True)
    node_id: Mapped[str] = mapped_column(sa.String(64))
    occurrence: Mapped[str] = mapped_column(sa.String(10))  # YYYY-MM-DD, local
    state: Mapped[str] = mapped_column(sa.String(16))  # playing, played, missed
    command_id: Mapped[str] = mapped_column(sa.String(64))
    reason: Mapped[str | None] = mapped_column(sa.String(200))
    started_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    duration_s: Mapped[float | None]
    updated_at: Mapped[datetime] = mapped_column(default=now)


class Detection(Base):
    """A detection event from a camera node (motion, person), with its picture and the alert it raised."""

    __tablename__ = "detections"
    __table_args__ = (sa.UniqueConstraint("node_id", "event_id", name="uq_detection_node_event"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    node_id: Mapped[str] = mapped_column(sa.String(64))  # from the topic (broker-proven), never the payload
    event_id: Mapped[str] = mapped_column(sa.String(64))  # the node's id of the event
    camera_id: Mapped[str] = mapped_column(sa.String(64), index=True)
    kind: Mapped[str] = mapped_column(sa.String(16))
    at: Mapped[datetime] = mapped_column(index=True)
    score: Mapped[float]
    boxes: Mapped[list[Any]] = mapped_column(default=list)
    width: Mapped[int | None]
    height: Mapped[int | None]
    historical: Mapped[bool] = mapped_column(default=False)
    received_at: Mapped[datetime] = mapped_column(default=now)
    picture_state: Mapped[str] = mapped_column(sa.String(16), default="none")  # none, requested, uploaded, failed
    picture_reason: Mapped[str | None] = mapped_column(sa.String(200))
    command_id: Mapped[str | None] = mapped_column(sa.String(64), index=True)  # the detection_picture command
    token_hash: Mapped[str | None] = mapped_column(sa.String(64), unique=True)
    token_expires_at: Mapped[datetime | None]
    picture_file: Mapped[str | None] = mapped_column(sa.String(300))  # relative to the detections directory
    picture_size: Mapped[int | None]
    alert_id: Mapped[int | None]
    alert_rule: Mapped[str | None] = mapped_column(sa.String(64))


class Zone(Base):
    """A village / zone of the commune: the slug used in topics and a Vietnamese display name ("Thôn 1")."""

    __tablename__ = "zones"
    slug: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    created_by: Mapped[str] = mapped_column(sa.String(80), default="")  # a user, or node:ID for a node's claim
    created_at: Mapped[datetime] = mapped_column(default=now)
    updated_at: Mapped[datetime] = mapped_column(default=now)


class NodeSample(Base):
    """One health report of a node, kept for the technician's charts (24 h / 7 days; older rows are pruned)."""

    __tablename__ = "node_samples"
    id: Mapped[int] = mapped_column(primary_key=True)
    node_id: Mapped[str] = mapped_column(sa.String(64))
    at: Mapped[datetime] = mapped_column(default=now)
    cpu_temp_c: Mapped[float | None]
    disk_free_bytes: Mapped[int | None] = mapped_column(sa.BigInteger)
    clock_offset_ms: Mapped[float | None]
    volume: Mapped[int | None]
    queue_length: Mapped[int | None]
    relay_on: Mapped[bool | None]
    audio_device_ok: Mapped[bool | None]
    problems: Mapped[int] = mapped_column(default=0)  # how many problems the node reported
    __table_args__ = (sa.Index("ix_node_samples_node_at", "node_id", "at"),)


class HqSetting(Base):
    """A setting operators change in the web UI (alert webhook, voice order, default programme); wins over hq.yaml."""

    __tablename__ = "hq_settings"
    key: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    value: Mapped[dict[str, Any]] = mapped_column(default=dict)
    updated_by: Mapped[str] = mapped_column(sa.String(64), default="")
    updated_at: Mapped[datetime] = mapped_column(default=now)
