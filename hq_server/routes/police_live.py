"""Live views of the police post: the camera wall's event stream and the alert feed's.

``GET /api/v1/events/cameras`` streams every camera as the wall shows it (state with its node's: a camera
whose node is offline is "node offline"; newest picture id; labels in the user's language).
``GET /api/v1/events/alerts`` streams the alert feed's head (newest id, open count, the newest few), so a
page can ring and refresh its list when an alert arrives. The police role sees camera alerts and the
offline alerts of camera nodes; roles that read the fleet see every alert.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from sqlalchemy import and_, func, or_, select
from sqlalchemy.sql.elements import ColumnElement

from hq_server import sse
from hq_server.services.auth import Perm, allowed
from hq_server.storage.tables import Alert, Camera, Node, Snapshot
from hq_server.ui import camera_view as cv
from hq_server.ui.fmt import fmt_datetime
from hq_server.ui.render import gettext_for
from hq_server.ui.villages import zone_names
from hq_server.web import DB, Routes, principal

routes = Routes()
CAMERA_ALERTS = ("camera_status", "camera_detection")


async def latest_snapshots(s: Any) -> dict[str, tuple[str, Any]]:
    """camera id → (id, uploaded at) of its newest stored picture, in one query."""
    newest = (select(Snapshot.camera_id, func.max(Snapshot.uploaded_at).label("at"))
              .where(Snapshot.state == "uploaded", Snapshot.file.is_not(None)).group_by(Snapshot.camera_id).subquery())
    rows = (await s.execute(select(Snapshot.camera_id, Snapshot.id, Snapshot.uploaded_at).join(
        newest, and_(Snapshot.camera_id == newest.c.camera_id, Snapshot.uploaded_at == newest.c.at)))).all()
    return {cam: (sid, at) for cam, sid, at in rows}


async def wall_snapshot(request: web.Request) -> dict[str, Any]:
    """Every camera as the wall shows it, problems first, with counts per tone."""
    _ = gettext_for(request)
    async with request.app[DB].sessions() as s:
        cams = (await s.scalars(select(Camera).order_by(Camera.id))).all()
        nodes = {n.id: n.state for n in (await s.scalars(select(Node).where(
            Node.id.in_({c.node_id for c in cams if c.node_id})))).all()}
        names = await zone_names(s)
        pictures = await latest_snapshots(s)
    technical = allowed(principal(request).role, Perm.FLEET_READ)
    facts = cv.wall_order([cv.camera_facts(c, nodes.get(c.node_id), names, pictures.get(c.id), _, technical)
                           for c in cams])
    counts = {t: sum(f.tone == t for f in facts) for t in ("bad", "warn", "off", "ok")}
    return {"cameras": [f.as_dict() for f in facts], "counts": counts, "total": len(facts)}


@routes.route("GET", "/api/v1/events/cameras", perm=Perm.CAMERA_READ,
              summary="Server-sent events: 'cameras' (every camera's state for the wall) whenever one changes")
async def camera_events(request: web.Request) -> web.StreamResponse:
    return await sse.follow(request, "cameras", lambda: wall_snapshot(request))


async def alert_scope(request: web.Request, s: Any) -> ColumnElement[bool] | None:
    """The alerts this user may see: all for fleet readers; for the police post camera alerts and the offline
    alerts of nodes that watch cameras (None = no restriction)."""
    if allowed(principal(request).role, Perm.FLEET_READ):
        return None
    camera_nodes = set((await s.scalars(select(Camera.node_id).where(Camera.node_id != ""))).all())
    return or_(Alert.kind.in_(CAMERA_ALERTS), and_(Alert.kind == "node_offline", Alert.subject.in_(camera_nodes)))


async def alerts_head(request: web.Request) -> dict[str, Any]:
    _ = gettext_for(request)
    async with request.app[DB].sessions() as s:
        scope = await alert_scope(request, s)
        q = select(Alert).order_by(Alert.id.desc()).limit(5)
        n = select(func.count()).select_from(Alert).where(Alert.acknowledged_by.is_(None))
        if scope is not None:
            q, n = q.where(scope), n.where(scope)
        newest = (await s.scalars(q)).all()
        open_count = int(await s.scalar(n) or 0)
        names = {c.id: cv.camera_name(c) for c in (await s.scalars(select(Camera))).all()}
    technical = allowed(principal(request).role, Perm.FLEET_READ)
    return {"latest_id": newest[0].id if newest else 0, "open": open_count,
            "latest": [{"id": a.id, "at": fmt_datetime(a.at), "severity": a.severity,
                        "text": cv.alert_text(a.kind, a.message, names, _, technical)} for a in newest]}


@routes.route("GET", "/api/v1/events/alerts", perm=Perm.ALERT_READ,
              summary="Server-sent events: 'alerts' (newest alert id, open count, the newest five) on every change")
async def alert_events(request: web.Request) -> web.StreamResponse:
    return await sse.follow(request, "alerts", lambda: alerts_head(request))
