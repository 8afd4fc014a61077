"""Camera snapshots: HQ asks a camera node over MQTT, the node POSTs one JPEG back over HTTP.

The ``snapshot`` command carries an ``upload_url`` with a random one-time token: the token is the only
credential of the upload (nodes have no HQ account). Only its SHA-256 is stored; it expires after
``TOKEN_TTL_S`` and is consumed by the first accepted upload. Pictures are files under
``data_dir/snapshots/{camera}/`` written atomically (temp file, fsync, ``os.replace``), newest
``KEEP_PER_CAMERA`` kept per camera.
"""

from __future__ import annotations

import logging
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from hq_server.errors import ApiError
from hq_server.services import media
from hq_server.services.auth import token_hash
from hq_server.services.orchestrator import Orchestrator
from hq_server.storage.tables import Camera, CommandLog, Snapshot, now
from hq_server.uploads import Upload
from loaxa_contract.models import Ack, AckStage
from loaxa_contract.topics import valid_id
from loaxa_link.mqtt import LinkError

logger = logging.getLogger(__name__)

MAX_SNAPSHOT_BYTES = 5 * 1024 * 1024
TOKEN_TTL_S = 120.0
KEEP_PER_CAMERA = 20
UPLOAD_PATH = "/api/v1/snapshots/upload/"


class SnapshotError(ApiError):
    """A snapshot request or upload refused; answered by the error middleware with its ``status``."""


@dataclass(frozen=True)
class SnapshotRequest:
    id: str
    camera: str
    node: str
    expires_at: datetime
    upload_url: str  # contains the token: never logged, never stored


class SnapshotStore:
    """JPEG files by camera; the database row says which file is whose."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def adopt(self, camera: str, name: str, upload: Upload) -> str:
        """Move a received, checked file (complete and fsynced, in :attr:`root`) into place atomically;
        returns the path relative to the store (blocking: use a thread)."""
        folder = self.root / camera
        folder.mkdir(parents=True, exist_ok=True)
        upload.keep(folder / f"{name}.jpg")
        return f"{camera}/{name}.jpg"

    def read(self, relative: str) -> bytes:
        return (self.root / relative).read_bytes()

    def delete(self, relative: str) -> None:
        (self.root / relative).unlink(missing_ok=True)


async def request_snapshot(orch: Orchestrator, session: AsyncSession, camera_id: str, user: str,
                           public_base: str) -> SnapshotRequest:
    """Record a request with a fresh one-time token and publish the signed command to the camera's node.

    The caller commits; :class:`~loaxa_link.mqtt.LinkError` if the broker did not take the command.
    """
    cam = await session.get(Camera, camera_id)
    if cam is None:
        raise SnapshotError(404, "Không tìm thấy camera (no such camera)")
    if not cam.node_id or not valid_id(cam.node_id):
        raise SnapshotError(409, "Camera chưa gắn với máy trạm (the camera has no valid node; set it with PUT)",
                            {"node": cam.node_id or "empty"})
    token = secrets.token_urlsafe(32)
    request_id = uuid.uuid4().hex[:16]
    expires = now() + timedelta(seconds=TOKEN_TTL_S)
    url = f"{public_base.rstrip('/')}{UPLOAD_PATH}{token}"
    session.add(Snapshot(id=request_id, camera_id=cam.id, node_id=cam.node_id, token_hash=token_hash(token),
                         requested_by=user, token_expires_at=expires, state="requested"))
    await session.flush()
    try:
        await orch.send_command(session, "snapshot", f"node:{cam.node_id}", TOKEN_TTL_S, id=request_id,
                                camera=cam.id, upload_url=url)
    except LinkError as err:  # the request row is committed with the command: record why nothing came of it
        snap = await session.get(Snapshot, request_id)
        if snap is not None:
            snap.state, snap.reason = "failed", f"command not sent: {err}"[:200]
            await session.commit()
        raise
    logger.info("snapshot %s of camera %s requested from node %s by %s", request_id, cam.id, cam.node_id, user)
    return SnapshotRequest(request_id, cam.id, cam.node_id, expires, url)


async def claim_token(session: AsyncSession, token: str) -> Snapshot:
    """The pending request of ``token``, or 401 saying why (unknown, used, expired)."""
    snap = await session.scalar(select(Snapshot).where(Snapshot.token_hash == token_hash(token)))
    if snap is None:
        raise SnapshotError(401, "Mã tải lên không hợp lệ (unknown upload token)")
    if snap.state != "requested":
        raise SnapshotError(401, "Mã tải lên đã được dùng (upload token already used)")
    if snap.token_expires_at <= now():
        raise SnapshotError(401, "Mã tải lên đã hết hạn (upload token expired)")
    return snap


def check_jpeg(path: Path) -> None:
    """A complete JPEG that decodes (blocking: ffprobe/ffmpeg); 400 with the reason otherwise."""
    try:
        media.check_jpeg(path)
    except media.MediaError as err:
        raise SnapshotError(400, str(err), {"body": str(err)}) from err


async def consume(session: AsyncSession, snap: Snapshot) -> None:
    """Mark the token used, atomically: of two racing uploads only one wins (the other gets 401)."""
    result = await session.execute(
        update(Snapshot).where(Snapshot.id == snap.id, Snapshot.state == "requested",
                               Snapshot.token_expires_at > now()).values(state="uploaded", uploaded_at=now()))
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise SnapshotError(401, "Mã tải lên đã được dùng (upload token already used)")


async def record_file(session: AsyncSession, store: SnapshotStore, snap: Snapshot, upload: Upload,
                      relative: str) -> None:
    """Record the stored file on the row and prune the camera's oldest pictures."""
    snap.file = relative
    snap.size = upload.size
    snap.sha256 = upload.sha256
    old = (await session.scalars(select(Snapshot).where(Snapshot.camera_id == snap.camera_id,
                                                        Snapshot.state == "uploaded", Snapshot.id != snap.id)
                                 .order_by(Snapshot.uploaded_at.desc()).offset(KEEP_PER_CAMERA - 1))).all()
    for row in old:
        if row.file:
            store.delete(row.file)
        await session.delete(row)


async def on_snapshot_ack(session: AsyncSession, cmd: CommandLog, ack: Ack) -> None:
    """A node that could not take or upload the picture says so in its ack: keep the reason."""
    if ack.stage not in (AckStage.REJECTED, AckStage.FAILED, AckStage.EXPIRED):
        return
    snap = await session.get(Snapshot, cmd.id)
    if snap is not None and snap.state == "requested":
        snap.state = "failed"
        snap.reason = f"{ack.stage.value}: {ack.reason or ''} {ack.detail or ''}".strip()[:200]


def snapshot_json(s: Snapshot) -> dict[str, object]:
    state = s.state
    if state == "requested" and s.token_expires_at <= now():
        state = "expired"
    return {"id": s.id, "camera": s.camera_id, "node": s.node_id, "state": state, "reason": s.reason,
            "requested_by": s.requested_by, "requested_at": s.requested_at.isoformat(),
            "expires_at": s.token_expires_at.isoformat(),
            "uploaded_at": s.uploaded_at.isoformat() if s.uploaded_at else None, "size": s.size, "sha256": s.sha256}
