"""Camera snapshots: request (police, technicians), one-time upload by the node, latest picture."""

from __future__ import annotations

import asyncio

from aiohttp import web
from sqlalchemy import select

from hq_server.services import snapshots as snaps
from hq_server.services.auth import Perm
from hq_server.storage.tables import Snapshot
from hq_server.uploads import receive
from hq_server.web import (
    AUDIT_DETAIL,
    AUDIT_TARGET,
    CONFIG,
    DB,
    ORCH,
    SNAPSHOTS,
    ApiError,
    Routes,
    json_response,
    path_slug,
    principal,
)
from loaxa_link.mqtt import LinkError

routes = Routes()


def _camera(request: web.Request) -> str:
    return path_slug(request)


def _public_base(request: web.Request) -> str:
    http = request.app[CONFIG].http
    return http.public_url or f"http://{http.host}:{http.port}"


@routes.route("POST", "/api/v1/cameras/{id}/snapshot", perm=Perm.CAMERA_SNAPSHOT,
              summary="Ask the camera's node for a snapshot (202 + request id; node uploads within 2 min)")
async def request_snapshot(request: web.Request) -> web.Response:
    camera = _camera(request)
    user = principal(request).username
    async with request.app[DB].sessions() as s:
        try:
            req = await snaps.request_snapshot(request.app[ORCH], s, camera, user, _public_base(request))
        except LinkError as err:
            await s.rollback()
            raise ApiError(503, f"Không gửi được lệnh tới máy trạm (MQTT broker unavailable): {err}") from err
        await s.commit()
    request[AUDIT_DETAIL] = {"camera": camera, "node": req.node, "request": req.id}
    return json_response({"request_id": req.id, "camera": req.camera, "node": req.node, "state": "requested",
                          "expires_at": req.expires_at.isoformat(), "status_url": f"/api/v1/snapshots/{req.id}",
                          "latest_url": f"/api/v1/cameras/{camera}/snapshot/latest"}, 202)


@routes.route("POST", "/api/v1/snapshots/upload/{token}", perm=None,
              summary="Node uploads a JPEG (Content-Type: image/jpeg); the one-time token is the credential")
async def upload(request: web.Request) -> web.Response:
    request[AUDIT_TARGET] = snaps.UPLOAD_PATH + "…"  # the token never reaches the audit log
    store = request.app[SNAPSHOTS]
    async with request.app[DB].sessions() as s:
        snap = await snaps.claim_token(s, request.match_info["token"])
        request[AUDIT_DETAIL] = {"camera": snap.camera_id, "node": snap.node_id, "request": snap.id}
        if request.content_type != "image/jpeg":
            raise snaps.SnapshotError(400, "Cần Content-Type: image/jpeg (send the JPEG as image/jpeg)",
                                      {"Content-Type": f"got {request.content_type or 'none'}"})
        claimed = request.headers.get("X-LoaXa-Camera")
        if claimed and claimed != snap.camera_id:
            raise snaps.SnapshotError(400, "Ảnh của camera khác (the token was issued for another camera)",
                                      {"X-LoaXa-Camera": f"expected {snap.camera_id}"})
        async with receive(request, store.root, snaps.MAX_SNAPSHOT_BYTES, ("Ảnh", "snapshot")) as upload:
            await asyncio.to_thread(snaps.check_jpeg, upload.path)
            await snaps.consume(s, snap)
            name = f"{snap.requested_at.strftime('%Y%m%dT%H%M%S')}-{snap.id}"
            relative = await asyncio.to_thread(store.adopt, snap.camera_id, name, upload)
            await snaps.record_file(s, store, snap, upload, relative)
            await s.commit()
    return json_response({"request_id": snap.id, "camera": snap.camera_id, "size": upload.size}, 201)


@routes.route("GET", "/api/v1/snapshots/{id}", perm=Perm.CAMERA_READ,
              summary="State of a snapshot request (requested, uploaded, failed, expired)")
async def snapshot_status(request: web.Request) -> web.Response:
    async with request.app[DB].sessions() as s:
        snap = await s.get(Snapshot, request.match_info["id"])
        if snap is None:
            raise ApiError(404, "Không tìm thấy yêu cầu chụp ảnh (no such snapshot request)")
        return json_response({"snapshot": snaps.snapshot_json(snap)})


@routes.route("GET", "/api/v1/cameras/{id}/snapshot/latest", perm=Perm.CAMERA_READ,
              summary="Newest uploaded snapshot of a camera (image/jpeg)")
async def latest(request: web.Request) -> web.Response:
    camera = _camera(request)
    async with request.app[DB].sessions() as s:
        snap = await s.scalar(select(Snapshot).where(Snapshot.camera_id == camera, Snapshot.state == "uploaded",
                                                     Snapshot.file.is_not(None))
                              .order_by(Snapshot.uploaded_at.desc()).limit(1))
    if snap is None or snap.file is None:
        raise ApiError(404, "Chưa có ảnh của camera này (no snapshot of this camera yet)")
    try:
        data = await asyncio.to_thread(request.app[SNAPSHOTS].read, snap.file)
    except FileNotFoundError as err:
        raise ApiError(404, "Tệp ảnh đã bị xoá (snapshot file missing)") from err
    assert snap.uploaded_at is not None
    return web.Response(body=data, content_type="image/jpeg", headers={
        "Cache-Control": "no-store", "X-LoaXa-Snapshot": snap.id,
        "X-LoaXa-Taken-At": snap.uploaded_at.isoformat(), "X-LoaXa-Requested-By": snap.requested_by})
