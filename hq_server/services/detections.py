"""Detection events at HQ: stored from the nodes' camera event topic, pictures fetched, police alerted by rules.

Flow: a node publishes a :class:`~loaxa_contract.models.DetectionEvent` on
``node/{node}/camera/{camera}/event``. The node and camera come from the topic — the broker's ACL lets a
node write only under its own ``node/{node}/`` — and the payload's ``camera`` must agree; a camera HQ
knows under another node is refused. HQ stores the event (once: a QoS 1 re-delivery has the same node
and event id), commits a one-time upload token (only its hash is kept) and sends a signed
``detection_picture`` command; the node POSTs the JPEG it kept to ``/api/v1/detections/upload/{token}``.
The police alert is raised at once by :mod:`hq_server.services.detection_rules` (it does not wait for
the picture, which the API serves as soon as it arrives).
"""

from __future__ import annotations

import logging
import secrets
from datetime import timedelta

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hq_server.config import DetectionSection
from hq_server.services.alerts import Alerter
from hq_server.services.auth import token_hash
from hq_server.services.detection_rules import AlertRule, alert_text, first_match, rate_limited
from hq_server.services.fleet import camera_context
from hq_server.services.orchestrator import Orchestrator
from hq_server.services.snapshots import SnapshotError, SnapshotStore
from hq_server.storage.tables import Camera, CommandLog, Detection, now
from loaxa_contract import codec
from loaxa_contract.errors import ContractError, RefusalReason
from loaxa_contract.models import Ack, AckStage, DetectionEvent
from loaxa_contract.topics import ParsedTopic, TopicKind
from loaxa_link.mqtt import LinkError

logger = logging.getLogger(__name__)

UPLOAD_PATH = "/api/v1/detections/upload/"


def camera_label(cam: Camera | None, camera_id: str) -> str:
    """How the police post names a camera: its name as configured on the node and/or its registered location,
    with the id to be exact."""
    if cam is not None and cam.name and cam.name != camera_id:
        return f"“{cam.name}” ({camera_id})" + (f", {cam.location}" if cam.location else "")
    if cam is not None and cam.location:
        return f"{cam.location} ({camera_id})"
    return camera_id


def picture_url(det: Detection) -> str | None:
    return f"/api/v1/detections/{det.id}/picture" if det.picture_state == "uploaded" else None


def detection_json(det: Detection) -> dict[str, object]:
    state = det.picture_state
    if state == "requested" and det.token_expires_at is not None and det.token_expires_at <= now():
        state = "expired"
    return {"id": det.id, "node": det.node_id, "event_id": det.event_id, "camera": det.camera_id, "kind": det.kind,
            "at": det.at.isoformat(), "score": det.score, "boxes": det.boxes, "width": det.width,
            "height": det.height, "historical": det.historical, "received_at": det.received_at.isoformat(),
            "picture": state, "picture_reason": det.picture_reason, "picture_url": picture_url(det),
            "alert_id": det.alert_id, "alert_rule": det.alert_rule}


class DetectionService:
    def __init__(self, orch: Orchestrator, sessions: async_sessionmaker[AsyncSession], alerter: Alerter,
                 cfg: DetectionSection, public_base: str, store: SnapshotStore) -> None:
        self.orch = orch
        self.sessions = sessions
        self.alerter = alerter
        self.cfg = cfg
        self.public_base = public_base.rstrip("/")
        self.store = store
        self.received = 0

    def register(self) -> None:
        """Hook into the orchestrator: the camera event topic and the acks of ``detection_picture``."""
        self.orch.topic_handlers[TopicKind.CAMERA_EVENT] = self.on_message
        self.orch.ack_handlers["detection_picture"] = self.on_ack

    async def on_message(self, parsed: ParsedTopic, payload: bytes) -> None:
        node, camera = parsed.ids["node"], parsed.ids["camera"]
        msg = codec.decode_model(payload, DetectionEvent)
        if msg.camera != camera:
            raise ContractError(RefusalReason.INVALID_SCHEMA,
                                f"event {msg.id} says camera {msg.camera!r} on the topic of camera {camera!r}")
        async with self.sessions() as s:
            cam = await s.get(Camera, camera)
            if cam is not None and cam.node_id and cam.node_id != node:
                logger.warning("refused %s event %s of camera %s from node %s: the camera belongs to node %s",
                               msg.kind.value, msg.id, camera, node, cam.node_id)
                return
            if await s.scalar(select(Detection.id).where(Detection.node_id == node, Detection.event_id == msg.id)):
                return  # a QoS 1 re-delivery
            if cam is None:
                cam = Camera(id=camera, node_id=node, status="unknown", status_since=now())
                s.add(cam)
            det = Detection(node_id=node, event_id=msg.id, camera_id=camera, kind=msg.kind.value, at=msg.at,
                            score=msg.score, boxes=[b.model_dump(exclude_none=True) for b in msg.boxes],
                            width=msg.width, height=msg.height, historical=msg.historical)
            s.add(det)
            await s.flush()
            token = self._issue_token(det) if msg.picture else None
            await self._alert(s, det, cam)
            await self._prune(s, camera)
            await s.commit()  # the token is committed before the node can use it
            self.received += 1
            logger.info("camera %s (node %s): %s event %s at %s, score %.2f", camera, node, msg.kind.value, det.id,
                        msg.at.isoformat(timespec="seconds"), msg.score)
            if token is not None:
                await self._request_picture(s, det, token)

    def _issue_token(self, det: Detection) -> str:
        token = secrets.token_urlsafe(32)
        det.token_hash = token_hash(token)
        det.token_expires_at = now() + timedelta(seconds=self.cfg.picture_ttl_s)
        det.picture_state = "requested"
        return token

    async def _request_picture(self, s: AsyncSession, det: Detection, token: str) -> None:
        url = f"{self.public_base}{UPLOAD_PATH}{token}"
        try:
            det.command_id = await self.orch.send_command(
                s, "detection_picture", f"node:{det.node_id}", self.cfg.picture_ttl_s, camera=det.camera_id,
                event_id=det.event_id, upload_url=url)
        except LinkError as err:
            det.picture_state, det.picture_reason = "failed", f"command not sent: {err}"[:200]
        await s.commit()

    async def _alert(self, s: AsyncSession, det: Detection, cam: Camera | None) -> None:
        rule = first_match(self.cfg.rules, det.camera_id, det.kind, det.at)
        if rule is None:
            return
        age = (now() - det.at).total_seconds()
        if age > self.cfg.alert_max_age_s:
            logger.info("detection %s is %.0f s old: stored without alert", det.id, age)
            return
        last = await s.scalar(select(func.max(Detection.at)).where(
            Detection.camera_id == det.camera_id, Detection.alert_rule == rule.name, Detection.alert_id.is_not(None)))
        if rate_limited(rule, last, det.at):
            logger.info("detection %s: rule %s already alerted for camera %s at %s (rate limit)", det.id,
                        rule.name, det.camera_id, last)
            return
        held_back = await self._held_back(s, det, rule, last)
        text = alert_text(det.kind, camera_label(cam, det.camera_id), det.at, rule, held_back, late=det.historical)
        alert = await self.alerter.raise_alert(s, "camera_detection", det.camera_id, text, rule.severity,
                                               context={"camera": camera_context(cam)} if cam is not None else None)
        det.alert_id, det.alert_rule = alert.id, rule.name

    @staticmethod
    async def _held_back(s: AsyncSession, det: Detection, rule: AlertRule, last: object) -> int:
        if last is None:
            return 0
        return int(await s.scalar(select(func.count(Detection.id)).where(
            Detection.camera_id == det.camera_id, Detection.kind.in_(rule.kinds), Detection.alert_id.is_(None),
            Detection.at > last, Detection.id != det.id)) or 0)

    async def _prune(self, s: AsyncSession, camera: str) -> None:
        old = (await s.scalars(select(Detection).where(Detection.camera_id == camera).order_by(
            Detection.at.desc(), Detection.id.desc()).offset(self.cfg.keep_per_camera))).all()
        for row in old:
            if row.picture_file:
                self.store.delete(row.picture_file)
            await s.delete(row)

    async def on_ack(self, session: AsyncSession, cmd: CommandLog, ack: Ack) -> None:
        """A node that could not upload the picture says why; keep it on the event."""
        if ack.stage not in (AckStage.REJECTED, AckStage.FAILED, AckStage.EXPIRED):
            return
        det = await session.scalar(select(Detection).where(Detection.command_id == cmd.id))
        if det is not None and det.picture_state == "requested":
            det.picture_state = "failed"
            det.picture_reason = f"{ack.stage.value}: {ack.reason or ''} {ack.detail or ''}".strip()[:200]


async def claim_upload(session: AsyncSession, token: str) -> Detection:
    """The detection waiting for the picture of ``token``, or 401 saying why."""
    det = await session.scalar(select(Detection).where(Detection.token_hash == token_hash(token)))
    if det is None:
        raise SnapshotError(401, "Mã tải lên không hợp lệ (unknown upload token)")
    if det.picture_state != "requested":
        raise SnapshotError(401, "Mã tải lên đã được dùng (upload token already used)")
    if det.token_expires_at is None or det.token_expires_at <= now():
        raise SnapshotError(401, "Mã tải lên đã hết hạn (upload token expired)")
    return det


async def consume_upload(session: AsyncSession, det: Detection) -> None:
    """Mark the token used, atomically: of two racing uploads only one wins (the other gets 401)."""
    result = await session.execute(update(Detection).where(
        Detection.id == det.id, Detection.picture_state == "requested", Detection.token_expires_at > now())
        .values(picture_state="uploaded"))
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise SnapshotError(401, "Mã tải lên đã được dùng (upload token already used)")


def picture_name(det: Detection, sha256: str) -> str:
    return f"{det.at.strftime('%Y%m%dT%H%M%S')}-{det.id}-{sha256[:8]}"


__all__ = ["UPLOAD_PATH", "DetectionService", "camera_label", "claim_upload", "consume_upload", "detection_json",
           "picture_name"]
