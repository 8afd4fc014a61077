"""Camera live view: start (police, technicians), the node's frame uploads, the browser's stream, stop.

``POST /api/v1/cameras/{id}/live`` opens a session (or joins the camera's running one) and signs a
``live_view`` command to the camera's node; ``GET /api/v1/live/{id}/stream`` is the picture for an
``<img>`` (``multipart/x-mixed-replace``, each part one JPEG, relayed from the node); ``GET
/api/v1/live/{id}`` its state (starting, streaming, ended with the reason, seconds left); ``POST
/api/v1/live/{id}/stop``. The node POSTs each frame to ``/api/v1/live/upload/{token}`` (no account: the
one-time session token is the credential; answered ``410`` once the view has ended). Frame uploads are
not written to the audit log one by one: starting and stopping a view are.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from hq_server.routes.snapshots import _public_base
from hq_server.services import live_view as lv
from hq_server.services.auth import Perm
from hq_server.storage.tables import Camera, CommandLog, Node
from hq_server.web import (
    AUDIT_DETAIL,
    CONFIG,
    DB,
    LIVE,
    ORCH,
    ApiError,
    Routes,
    json_response,
    path_slug,
    principal,
    read_capped,
)
from loaxa_contract.models import Ack, AckStage
from loaxa_link.mqtt import LinkError

logger = logging.getLogger(__name__)
routes = Routes()
COMMAND_TTL_S = lv.START_S
BOUNDARY = "loaxa-frame"


def session_json(s: lv.LiveSession, now: float) -> dict[str, Any]:
    return {"id": s.id, "camera": s.camera, "node": s.node, "state": s.state, "ended": s.ended, "detail": s.detail,
            "command_id": s.command_id,
            "frames": s.frame_no, "bytes": s.bytes_in, "viewers": s.viewers, "ends_in_s": round(s.ends_in(now), 1),
            "width": s.width, "fps": s.fps, "requested_by": s.requested_by,
            "stream_url": f"/api/v1/live/{s.id}/stream", "status_url": f"/api/v1/live/{s.id}"}


def _live_error(err: lv.LiveError) -> ApiError:
    return ApiError(err.status, str(err))


@routes.route("POST", "/api/v1/cameras/{id}/live", perm=Perm.CAMERA_SNAPSHOT,
              summary="Start (or join) a camera's live view, sized for 4G; it ends by itself after a few minutes")
async def start(request: web.Request) -> web.Response:
    camera_id = path_slug(request)
    hub, cfg = request.app[LIVE], request.app[CONFIG].live_view
    async with request.app[DB].sessions() as s:
        cam = await s.get(Camera, camera_id)
        if cam is None:
            raise ApiError(404, "Không tìm thấy camera (no such camera)")
        node = await s.get(Node, cam.node_id) if cam.node_id else None
        if node is None:
            raise ApiError(409, "Camera chưa gắn với máy trạm (the camera has no node)")
        if node.state != "online":
            raise ApiError(409, f"Máy trạm {node.id} của camera đang mất kết nối; không xem trực tiếp được "
                                f"(the camera's node is offline)")
        running = hub.running_for(camera_id)
        if running is not None:
            request[AUDIT_DETAIL] = {"camera": camera_id, "live": running.id, "joined": True}
            return json_response({"live": session_json(running, hub.clock()), "joined": True})
        session, token = hub.open(camera_id, node.id, principal(request).username, max_s=cfg.max_s,
                                  idle_s=cfg.idle_s, width=cfg.width, fps=cfg.fps, quality=cfg.jpeg_quality)
        url = f"{_public_base(request).rstrip('/')}{lv.UPLOAD_PATH}{token}"
        try:
            session.command_id = await request.app[ORCH].send_command(
                s, "live_view", f"node:{node.id}", COMMAND_TTL_S, camera=camera_id, upload_url=url,
                duration_s=cfg.max_s, fps=cfg.fps, width=cfg.width, quality=cfg.jpeg_quality)
        except LinkError as err:
            await s.rollback()
            await hub.end(session, lv.NODE_FAILED, "broker unavailable")
            raise ApiError(503, f"Không gửi được lệnh tới máy trạm (MQTT broker unavailable): {err}") from err
        await s.commit()
    logger.info("live view %s of camera %s via node %s for %s", session.id, camera_id, node.id, session.requested_by)
    request[AUDIT_DETAIL] = {"camera": camera_id, "node": node.id, "live": session.id}
    return json_response({"live": session_json(session, hub.clock()), "joined": False}, 201)


def _session(request: web.Request) -> lv.LiveSession:
    try:
        return request.app[LIVE].get(request.match_info["id"])
    except lv.LiveError as err:
        raise _live_error(err) from err


@routes.route("GET", "/api/v1/live/{id}", perm=Perm.CAMERA_READ,
              summary="State of a live view: starting, streaming, ended (with why), seconds left, frames")
async def status(request: web.Request) -> web.Response:
    s = _session(request)
    await request.app[LIVE].check(s)
    return json_response({"live": session_json(s, request.app[LIVE].clock())})


@routes.route("POST", "/api/v1/live/{id}/stop", perm=Perm.CAMERA_SNAPSHOT, summary="Stop a live view now")
async def stop(request: web.Request) -> web.Response:
    s = _session(request)
    await request.app[LIVE].end(s, lv.STOPPED, f"stopped by {principal(request).username}")
    request[AUDIT_DETAIL] = {"camera": s.camera, "live": s.id}
    return json_response({"live": session_json(s, request.app[LIVE].clock())})


async def _parts(frames: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    async for jpeg in frames:
        yield (f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n\r\n").encode() + jpeg + \
            b"\r\n"


@routes.route("GET", "/api/v1/live/{id}/stream", perm=Perm.CAMERA_READ,
              summary="The live picture: multipart/x-mixed-replace of JPEG frames, until the view ends")
async def stream(request: web.Request) -> web.StreamResponse:
    s = _session(request)
    hub = request.app[LIVE]
    await hub.check(s)
    if s.ended:
        raise ApiError(410, f"Đã kết thúc xem trực tiếp (live view ended: {s.ended})")
    resp = web.StreamResponse(headers={"Content-Type": f"multipart/x-mixed-replace; boundary={BOUNDARY}",
                                       "Cache-Control": "no-store", "X-Accel-Buffering": "no"})
    await resp.prepare(request)
    frames = hub.frames(s)
    try:
        async for part in _parts(frames):
            await resp.write(part)
    except ConnectionResetError:
        logger.debug("live view %s: a viewer left", s.id)
    finally:
        await frames.aclose()
    return resp


@routes.route("POST", "/api/v1/live/upload/{token}", perm=None, audit=False,
              summary="Node uploads one live-view frame (image/jpeg); 410 once the view ended")
async def upload(request: web.Request) -> web.Response:
    hub = request.app[LIVE]
    try:
        s = hub.by_token(request.match_info["token"])
    except lv.LiveError as err:
        raise _live_error(err) from err
    if request.content_type != "image/jpeg":
        raise ApiError(400, "Cần Content-Type: image/jpeg", {"Content-Type": f"got {request.content_type or 'none'}"})
    if request.headers.get("X-LoaXa-Camera", s.camera) != s.camera:
        raise ApiError(400, "Ảnh của camera khác (the token was issued for another camera)",
                       {"X-LoaXa-Camera": f"expected {s.camera}"})
    data = await read_capped(request, lv.MAX_FRAME_BYTES, "Khung hình (frame)")
    if not lv.looks_like_jpeg(data):
        raise ApiError(400, "Khung hình không phải ảnh JPEG trọn vẹn (frame is not a whole JPEG)",
                       {"body": "must start with FF D8 FF and end with FF D9"})
    try:
        await hub.push(s, data)
    except lv.LiveError as err:
        raise _live_error(err) from err
    return json_response({"frame": s.frame_no, "ends_in_s": round(s.ends_in(hub.clock()), 1)})


async def on_live_ack(session: Any, cmd: CommandLog, ack: Ack, hub: lv.LiveHub) -> None:
    """The node could not show the camera (unknown camera, no picture, upload failing): end the view, say why."""
    if ack.stage not in (AckStage.REJECTED, AckStage.FAILED, AckStage.EXPIRED):
        return
    for s in hub.sessions.values():
        if s.command_id == cmd.id:
            await hub.end(s, lv.NODE_FAILED, f"{ack.reason or ack.stage.value}: {ack.detail or ''}".strip())


def install(app: web.Application) -> None:
    """The hub, its sweeper (runs while HQ runs) and the ack handler of ``live_view`` commands."""
    app[LIVE] = lv.LiveHub()

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        hub = app[LIVE]
        hub.start()

        async def handler(session: Any, cmd: CommandLog, ack: Ack) -> None:
            await on_live_ack(session, cmd, ack, hub)

        app[ORCH].ack_handlers["live_view"] = handler
        yield
        await hub.close()

    async def shutdown(app: web.Application) -> None:  # open streams end now, not at the shutdown timeout
        await app[LIVE].close()

    app.cleanup_ctx.append(ctx)
    app.on_shutdown.append(shutdown)
