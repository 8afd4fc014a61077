"""The police post's pages: the camera wall, one camera (status history, snapshot, live view, its alerts) and
the alert feed (live, with a sound and a visual cue, acknowledge with a note, filters).

The police role sees cameras and their nodes' status, never the broadcast controls (its menu has no
broadcast page and every broadcast page and API answers 403). Pages stay live through
``/api/v1/events/cameras`` and ``/api/v1/events/alerts``; actions go through the JSON API.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from aiohttp import web
from sqlalchemy import func, select

from hq_server.routes.police_live import alert_scope, latest_snapshots, wall_snapshot
from hq_server.services.auth import Perm, allowed
from hq_server.storage.tables import Alert, Camera, CameraEvent, Detection, Node, now
from hq_server.ui import camera_view as cv
from hq_server.ui.fmt import Gettext
from hq_server.ui.render import gettext_for, page
from hq_server.ui.villages import zone_names
from hq_server.web import CONFIG, DB, ApiError, Routes, path_slug, principal, query_int

routes = Routes()
SPANS = {"24h": timedelta(hours=24), "7d": timedelta(days=7)}
ALERT_STATES = ("open", "acknowledged", "all")
WALL_REFRESH_S = 900
"""An open wall asks for a new picture of a working camera whose newest one is older than this (one JPEG per
camera per 15 min while someone watches: light on 4G, and the wall never shows an hour-old scene as current)."""


def _police_msgs(_: Gettext) -> dict[str, str]:
    return {"live_lost": _("Live updates paused; reconnecting…"), "failed": _("Not done: %(why)s"),
            "snapshot_wait": _("Asking the camera's node for a picture…"),
            "snapshot_done": _("New picture received."), "snapshot_failed": _("No picture: %(why)s"),
            "snapshot_all": _("Asked %(n)s camera(s) for a new picture."),
            "live_starting": _("Connecting to the camera…"), "live_on": _("Live · %(left)s left · %(frames)s frames"),
            "live_ended": _("The live view has ended: %(why)s"), "new_alerts": _("%(n)s new alert(s)"),
            "sound_on": _("Sound on"), "sound_off": _("Turn on the alert sound"),
            "ack_done": _("Acknowledged."), "acked_by": _("Acknowledged by %(who)s"),
            "need_note": _("Write what you did or saw (a short note)."),
            **{f"end_{k}": _(v) for k, v in LIVE_ENDINGS.items()}}


def _(s: str) -> str:  # extraction marker
    return s


LIVE_ENDINGS = {"time_up": _("time limit reached (a live view lasts a few minutes; start it again if needed)"),
                "idle": _("nobody was watching"), "no_answer": _("the camera's node did not answer"),
                "node_failed": _("the camera's node could not show the camera"), "stopped": _("stopped"),
                "replaced": _("replaced by a newer view")}


@routes.route("GET", "/cameras", perm=Perm.CAMERA_READ, html=True,
              summary="Camera wall: every camera with its state and newest picture, problems first, live")
async def cameras_page(request: web.Request) -> web.StreamResponse:
    _ = gettext_for(request)
    wall = await wall_snapshot(request)
    return await page(request, "cameras.html", {
        "wall": wall, "can_snapshot": allowed(principal(request).role, Perm.CAMERA_SNAPSHOT),
        "refresh_s": WALL_REFRESH_S, "js_msgs": _police_msgs(_)})


async def _alert_rows(request: web.Request, s: Any, *, state: str = "all", kind: str = "", camera: str = "",
                      limit: int = 100) -> list[dict[str, Any]]:
    """Alerts as the feed shows them (plain words, camera names, detection pictures), newest first."""
    _ = gettext_for(request)
    q = select(Alert).order_by(Alert.id.desc()).limit(limit)
    if (scope := await alert_scope(request, s)) is not None:
        q = q.where(scope)
    if state == "open":
        q = q.where(Alert.acknowledged_by.is_(None))
    elif state == "acknowledged":
        q = q.where(Alert.acknowledged_by.is_not(None))
    if kind:
        q = q.where(Alert.kind == kind)
    if camera:
        nodes = [n for n in (await s.scalars(select(Camera.node_id).where(Camera.id == camera))).all() if n]
        q = q.where(Alert.subject.in_([camera, *nodes]))
    alerts = (await s.scalars(q)).all()
    names = {c.id: cv.camera_name(c) for c in (await s.scalars(select(Camera))).all()}
    pictures: dict[int, Detection] = {}
    if allowed(principal(request).role, Perm.DETECTION_READ) and alerts:
        for d in (await s.scalars(select(Detection).where(Detection.alert_id.in_([a.id for a in alerts])))).all():
            if d.alert_id is not None and d.picture_state == "uploaded":
                pictures[d.alert_id] = d
    technical = allowed(principal(request).role, Perm.FLEET_READ)
    return [{"a": a, "text": cv.alert_text(a.kind, a.message, names, _, technical),
             "detail": (getattr(a, "detail", None) or "") if technical else "",
             "kind": _(cv.ALERT_KINDS.get(a.kind, a.kind)), "camera": a.subject if a.subject in names else "",
             "camera_name": names.get(a.subject, ""), "note": a.acknowledged_note,
             "acked_at": a.acknowledged_at,
             "picture": f"/api/v1/detections/{pictures[a.id].id}/picture" if a.id in pictures else None}
            for a in alerts]


@routes.route("GET", "/cameras/{id}", perm=Perm.CAMERA_READ, html=True,
              summary="One camera: state, newest picture, fresh snapshot, live view, status history, its alerts")
async def camera_page(request: web.Request) -> web.StreamResponse:
    _ = gettext_for(request)
    camera_id = path_slug(request)
    span = request.query.get("span", "24h")
    if span not in SPANS:
        span = "24h"
    end = now()
    start = end - SPANS[span]
    async with request.app[DB].sessions() as s:
        cam = await s.get(Camera, camera_id)
        if cam is None:
            raise ApiError(404, _("There is no camera with this id."))
        node = await s.get(Node, cam.node_id) if cam.node_id else None
        events = (await s.scalars(select(CameraEvent).where(CameraEvent.camera_id == cam.id)
                                  .order_by(CameraEvent.at.desc()).limit(2000))).all()
        names = await zone_names(s)
        picture = (await latest_snapshots(s)).get(cam.id)
        alerts = await _alert_rows(request, s, camera=cam.id, limit=20)
    before = next((e.status for e in events if e.at <= start), None)
    segments = cv.status_segments([e for e in events if e.at > start], before, start, end)
    p = principal(request)
    facts = cv.camera_facts(cam, node.state if node else None, names, picture, _, allowed(p.role, Perm.FLEET_READ))
    cfg = request.app[CONFIG].live_view
    return await page(request, "camera.html", {
        "c": cam, "f": facts, "node": node, "span": span, "start": start, "end": end,
        "segments": [{"status": sg.status, "tone": cv.tone(sg.status), "text": _(cv.CAMERA_STATES.get(
            sg.status, sg.status)), "share": sg.share(start, end), "start": sg.start, "end": sg.end}
            for sg in segments],
        "changes": [e for e in events if e.at > start][:50],
        "state_labels": {k: _(v) for k, v in cv.CAMERA_STATES.items()}, "alerts": alerts,
        "can_snapshot": allowed(p.role, Perm.CAMERA_SNAPSHOT), "can_fleet": allowed(p.role, Perm.FLEET_READ),
        "can_ack": allowed(p.role, Perm.ALERT_WRITE), "live": cfg, "js_msgs": _police_msgs(_)})


@routes.route("GET", "/alerts", perm=Perm.ALERT_READ, html=True,
              summary="Alert feed: live, with a sound and visual cue; acknowledge with a note; filters")
async def alerts_page(request: web.Request) -> web.StreamResponse:
    _ = gettext_for(request)
    q = request.query
    state = q.get("state", "open") if q.get("state", "open") in ALERT_STATES else "open"
    kind = q.get("kind", "") if q.get("kind", "") in cv.ALERT_KINDS else ""
    camera = q.get("camera", "")
    limit = query_int(request, "limit", 100, 1, 500)
    async with request.app[DB].sessions() as s:
        cams = (await s.scalars(select(Camera).order_by(Camera.id))).all()
        if camera and camera not in {c.id for c in cams}:
            camera = ""
        rows = await _alert_rows(request, s, state=state, kind=kind, camera=camera, limit=limit)
        newest = select(func.max(Alert.id))
        if (scope := await alert_scope(request, s)) is not None:
            newest = newest.where(scope)
        latest_id = int(await s.scalar(newest) or 0)
    p = principal(request)
    return await page(request, "alerts.html", {
        "rows": rows, "f": {"state": state, "kind": kind, "camera": camera},
        "kinds": [(k, _(v)) for k, v in cv.ALERT_KINDS.items()], "cameras": cams,
        "latest_id": latest_id, "can_ack": allowed(p.role, Perm.ALERT_WRITE),
        "js_msgs": _police_msgs(_)})
