"""Camera detection events for the police post: list (filters, picture URLs), one event, its picture, upload."""

from __future__ import annotations

import asyncio
from zoneinfo import ZoneInfo

from aiohttp import web
from sqlalchemy import select

from hq_server.inputs import query_instant
from hq_server.services import detections as dets
from hq_server.services import snapshots as snaps
from hq_server.services.auth import Perm
from hq_server.storage.tables import Detection
from hq_server.uploads import receive
from hq_server.web import (
    AUDIT_DETAIL,
    AUDIT_TARGET,
    DB,
    DETECTION_PICTURES,
    ApiError,
    Routes,
    json_response,
    path_int,
    query_int,
)
from loaxa_contract.topics import valid_id

routes = Routes()
LOCAL = ZoneInfo("Asia/Ho_Chi_Minh")
KINDS = ("person", "motion")


@routes.route("GET", "/api/v1/detections", perm=Perm.DETECTION_READ,
              summary="Detection events, newest first; ?camera=ID&kind=person|motion&from=&to=&alerted=true&limit=")
async def list_detections(request: web.Request) -> web.Response:
    q = request.query
    stmt = select(Detection)
    if camera := q.get("camera"):
        if not valid_id(camera):
            raise ApiError(400, "Mã camera không hợp lệ (invalid camera id)", {"camera": "use a-z, 0-9, '-', '_'"})
        stmt = stmt.where(Detection.camera_id == camera)
    if kind := q.get("kind"):
        if kind not in KINDS:
            raise ApiError(400, "Loại sự kiện không hợp lệ (invalid kind)", {"kind": f"one of {', '.join(KINDS)}"})
        stmt = stmt.where(Detection.kind == kind)
    if (start := query_instant("from", q.get("from"), LOCAL)) is not None:
        stmt = stmt.where(Detection.at >= start)
    if (end := query_instant("to", q.get("to"), LOCAL)) is not None:
        stmt = stmt.where(Detection.at < end)
    if q.get("alerted") in ("true", "1"):
        stmt = stmt.where(Detection.alert_id.is_not(None))
    limit = query_int(request, "limit", 100, 1, 1000)
    async with request.app[DB].sessions() as s:
        rows = (await s.scalars(stmt.order_by(Detection.at.desc(), Detection.id.desc()).limit(limit))).all()
        return json_response({"detections": [dets.detection_json(d) for d in rows]})


async def _get(request: web.Request) -> Detection:
    async with request.app[DB].sessions() as s:
        det = await s.get(Detection, path_int(request))
    if det is None:
        raise ApiError(404, "Không tìm thấy sự kiện (no such detection event)")
    return det


@routes.route("GET", "/api/v1/detections/{id}", perm=Perm.DETECTION_READ, summary="One detection event")
async def get_detection(request: web.Request) -> web.Response:
    return json_response({"detection": dets.detection_json(await _get(request))})


@routes.route("GET", "/api/v1/detections/{id}/picture", perm=Perm.DETECTION_READ,
              summary="The event's picture (image/jpeg: boxes drawn, privacy masks black)")
async def picture(request: web.Request) -> web.Response:
    det = await _get(request)
    if det.picture_state != "uploaded" or not det.picture_file:
        raise ApiError(404, "Chưa có ảnh của sự kiện này (no picture for this event yet)",
                       {"picture": det.picture_state})
    try:
        data = await asyncio.to_thread(request.app[DETECTION_PICTURES].read, det.picture_file)
    except FileNotFoundError as err:
        raise ApiError(404, "Tệp ảnh đã bị xoá (picture file missing)") from err
    request[AUDIT_DETAIL] = {"detection": det.id, "camera": det.camera_id}
    return web.Response(body=data, content_type="image/jpeg", headers={
        "Cache-Control": "no-store", "X-LoaXa-Camera": det.camera_id, "X-LoaXa-Taken-At": det.at.isoformat()})


@routes.route("POST", "/api/v1/detections/upload/{token}", perm=None,
              summary="Node uploads an event's JPEG (Content-Type: image/jpeg); the one-time token is the credential")
async def upload(request: web.Request) -> web.Response:
    request[AUDIT_TARGET] = dets.UPLOAD_PATH + "…"  # the token never reaches the audit log
    store = request.app[DETECTION_PICTURES]
    async with request.app[DB].sessions() as s:
        det = await dets.claim_upload(s, request.match_info["token"])
        request[AUDIT_DETAIL] = {"camera": det.camera_id, "node": det.node_id, "detection": det.id}
        if request.content_type != "image/jpeg":
            raise snaps.SnapshotError(400, "Cần Content-Type: image/jpeg (send the JPEG as image/jpeg)",
                                      {"Content-Type": f"got {request.content_type or 'none'}"})
        claimed = request.headers.get("X-LoaXa-Camera")
        if claimed and claimed != det.camera_id:
            raise snaps.SnapshotError(400, "Ảnh của camera khác (the token was issued for another camera)",
                                      {"X-LoaXa-Camera": f"expected {det.camera_id}"})
        async with receive(request, store.root, snaps.MAX_SNAPSHOT_BYTES, ("Ảnh", "picture")) as upload:
            await asyncio.to_thread(snaps.check_jpeg, upload.path)
            await dets.consume_upload(s, det)
            name = dets.picture_name(det, upload.sha256)
            det.picture_file = await asyncio.to_thread(store.adopt, det.camera_id, name, upload)
            det.picture_size = upload.size
            await s.commit()
    return json_response({"detection": det.id, "camera": det.camera_id, "size": upload.size}, 201)
