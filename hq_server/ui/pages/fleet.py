"""The technician's pages: loudspeakers and nodes (list, map), one node (health over time, events, what it
holds and played, villages, location, programme and volume).

Pages are rendered from HQ's records and stay live through ``GET /api/v1/events/fleet``; every change goes
through the JSON API from the page's script (same checks, same audit as a technician's curl).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from sqlalchemy import select

from hq_server.routes.fleet_live import fleet_snapshot
from hq_server.services.auth import Perm, allowed
from hq_server.services.node_settings import NodeSettings
from hq_server.storage.tables import (
    Alert,
    Bulletin,
    Delivery,
    DesiredSetting,
    Node,
    NodeEvent,
    NodeSetting,
    Occurrence,
)
from hq_server.ui import delivery_text as dt
from hq_server.ui import fleet_view as fv
from hq_server.ui import mapview
from hq_server.ui.camera_view import ALERT_KINDS
from hq_server.ui.fmt import Gettext, fmt_datetime
from hq_server.ui.render import gettext_for, page
from hq_server.ui.villages import zone_names
from hq_server.web import CONFIG, DB, ApiError, Routes, path_slug, principal

routes = Routes()
HOLDING = ("pending", "received", "scheduled", "playing")


def _(s: str) -> str:  # extraction marker
    return s


EVENT_LABELS = {"online": _("Came online"), "offline": _("Went offline"), "reboot": _("Restarted")}
SETTING_STATES = {"pending": _("Waiting to be sent"), "sent": _("Sent, waiting for the loudspeaker"),
                  "applied": _("Applied by the loudspeaker"), "failed": _("Refused or failed")}
SETTING_TONE = {"pending": "wait", "sent": "wait", "applied": "ok", "failed": "bad"}


def _fleet_msgs(_: Gettext) -> dict[str, str]:
    return {"live_lost": _("Live updates paused; reconnecting…"), "saved": _("Saved."),
            "failed": _("Not saved: %(why)s"), "check_fields": _("Please correct the fields marked in red."),
            "bad_lat": _("Latitude is a number between -90 and 90, e.g. 21.0285."),
            "bad_lon": _("Longitude is a number between -180 and 180, e.g. 105.8542."),
            "no_gps": _("The phone could not give its position: %(why)s"),
            "need_window": _("Each window needs a start, an end and at least one day."),
            "applied": _("Sent to %(n)s loudspeaker(s); the list below shows when each applies it."),
            "online": _("Online"), "uptime": _("online %(p)s of the time"), "no_data": _("no report in this period"),
            "temp": _("Temperature (°C)"), "disk": _("Free storage (GB)"), "clock": _("Clock offset (ms)"),
            "volume": _("Volume (%)"), "online_share": _("Online (share of time)")}


@routes.route("GET", "/nodes", perm=Perm.FLEET_READ, html=True, summary="Loudspeakers and nodes with live status")
async def nodes_page(request: web.Request) -> web.StreamResponse:
    _ = gettext_for(request)
    snap = await fleet_snapshot(request)
    return await page(request, "nodes.html", {"snap": snap, "js_msgs": _fleet_msgs(_)})


def map_context(nodes: list[dict[str, Any]], tile_url: str | None) -> dict[str, Any]:
    placed = [n for n in nodes if n["lat"] is not None and n["lon"] is not None]
    view = mapview.fit([(n["lat"], n["lon"]) for n in placed])
    if view is None:
        return {"view": None, "pins": [], "unplaced": nodes, "tiles": []}
    pins = [{**n, "xy": view.place(n["lat"], n["lon"])} for n in placed]
    for p in pins:  # names near the right edge are written to the left of their marker, never cut off
        p["left"] = p["xy"][0] > view.width * 0.7
    metres, px = mapview.scale_bar(view, placed[0]["lat"])
    return {"view": view, "pins": pins, "unplaced": [n for n in nodes if n not in placed],
            "tiles": mapview.tiles(view, tile_url) if tile_url else [],
            "scale": {"m": metres, "px": px, "text": f"{metres // 1000} km" if metres >= 1000 else f"{metres} m"}}


@routes.route("GET", "/map", perm=Perm.FLEET_READ, html=True,
              summary="Map of the loudspeakers and nodes (works without Internet tiles)")
async def map_page(request: web.Request) -> web.StreamResponse:
    _ = gettext_for(request)
    snap = await fleet_snapshot(request)
    ui = request.app[CONFIG].ui
    return await page(request, "map.html", {"snap": snap, **map_context(snap["nodes"], ui.map_tile_url),
                                            "attribution": ui.map_tile_attribution, "js_msgs": _fleet_msgs(_)})


async def _settings(s: Any, node: Node) -> dict[str, Any]:
    """Effective programme/volume of the node (and where it comes from), each with its apply state."""
    effective = await NodeSettings.effective(s, node)
    rows = {r.kind: r for r in (await s.scalars(select(NodeSetting).where(NodeSetting.node_id == node.id))).all()}
    desired = {(d.scope_id, d.kind): d.value for d in (await s.scalars(select(DesiredSetting).where(
        DesiredSetting.scope == "zone", DesiredSetting.scope_id.in_(node.zones or [])))).all()}
    own = {d.kind: d.value for d in (await s.scalars(select(DesiredSetting).where(
        DesiredSetting.scope == "node", DesiredSetting.scope_id == node.id))).all()}
    return {"effective": {k: {"value": v, "source": src} for k, (v, src) in effective.items()},
            "state": {k: {"state": r.state, "reason": r.reason, "applied_at": fmt_datetime(r.applied_at),
                          "sent_at": fmt_datetime(r.sent_at)} for k, r in rows.items()},
            "zone_values": {f"{z}:{k}": v for (z, k), v in desired.items()}, "own": own}


async def _plays(s: Any, node_id: str, _: Gettext) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(what the node holds now, what it played lately) according to HQ's delivery records."""
    rows = (await s.execute(select(Delivery, Bulletin).join(Bulletin, Bulletin.id == Delivery.bulletin_id)
                            .where(Delivery.node_id == node_id).order_by(Delivery.updated_at.desc()).limit(200))).all()
    holds = [{"b": b, "state": dt.state_label(d.state, _), "tone": dt.STATE_TONE.get(d.state, "wait"),
              "when": fmt_datetime(b.play_at or b.send_at)}
             for d, b in rows if d.state in HOLDING and b.state == "active"]
    played = [{"b": b, "at": d.started_at, "duration_s": d.duration_s, "state": dt.state_label(d.state, _),
               "tone": dt.STATE_TONE.get(d.state, "wait"), "reason": dt.reason_text(d.reason, _)}
              for d, b in rows if d.state not in HOLDING][:30]
    occ = (await s.execute(select(Occurrence, Bulletin).join(Bulletin, Bulletin.id == Occurrence.bulletin_id)
                           .where(Occurrence.node_id == node_id).order_by(Occurrence.updated_at.desc())
                           .limit(30))).all()
    played += [{"b": b, "at": o.started_at, "duration_s": o.duration_s, "state": dt.state_label(o.state, _),
                "tone": dt.STATE_TONE.get(o.state, "wait"), "reason": dt.reason_text(o.reason, _)} for o, b in occ]
    played.sort(key=lambda p: p["at"].timestamp() if p["at"] else 0, reverse=True)
    return holds, played[:30]


@routes.route("GET", "/nodes/new", perm=Perm.FLEET_WRITE, html=True,
              summary="Add a node: its login and a one-time enrolment code, then watch it come online")
async def new_node_page(request: web.Request) -> web.StreamResponse:
    _ = gettext_for(request)
    cfg = request.app[CONFIG]
    async with request.app[DB].sessions() as s:
        names = await zone_names(s)
    base = (cfg.http.public_url or f"{cfg.http.scheme}://{cfg.http.host}:{cfg.http.port}").rstrip("/")
    return await page(request, "node_new.html", {"names": names, "hq_url": base, "js_msgs": {
        **_fleet_msgs(_), "need_id": _("Node id: 1 to 64 of a-z, 0-9, - and _, e.g. thon1-loa-3."),
        "exists": _("This node already has a login. Tick “new hardware” to issue a new one (the old one stops)."),
        "waiting": _("Waiting for %(id)s to connect…"), "online": _("%(id)s is online."),
        "expires": _("Valid until %(t)s, once.")}})


@routes.route("GET", "/nodes/{id}", perm=Perm.FLEET_READ, html=True,
              summary="One node: live state, health over time, events, plays, villages, location, programme")
async def node_page(request: web.Request) -> web.StreamResponse:
    _ = gettext_for(request)
    node_id = path_slug(request)
    async with request.app[DB].sessions() as s:
        n = await s.get(Node, node_id)
        if n is None:
            raise ApiError(404, _("There is no loudspeaker or node with this id."))
        names = await zone_names(s)
        events = (await s.scalars(select(NodeEvent).where(NodeEvent.node_id == n.id)
                                  .order_by(NodeEvent.at.desc()).limit(50))).all()
        holds, played = await _plays(s, n.id, _)
        alerts = (await s.scalars(select(Alert).where(Alert.subject == n.id).order_by(Alert.id.desc()).limit(20))).all()
        settings = await _settings(s, n)
    p = principal(request)
    facts = fv.node_facts(n, names, _)
    return await page(request, "node.html", {
        "n": n, "f": facts, "names": names, "events": events, "event_labels": {k: _(v) for k, v in
                                                                                EVENT_LABELS.items()},
        "holds": holds, "played": played, "settings": settings, "alerts": alerts,
        "alert_kinds": {k: _(v) for k, v in ALERT_KINDS.items()},
        "setting_states": {k: _(v) for k, v in SETTING_STATES.items()}, "setting_tone": SETTING_TONE,
        "problems": [(code, fv.problem_text(code, _), detail)
                     for code, detail in sorted(((n.last_health or {}).get("problems") or {}).items())],
        "reported_villages": ", ".join(names.get(z, z) for z in n.reported_zones or []),
        "can_edit": allowed(p.role, Perm.FLEET_WRITE), "can_settings": allowed(p.role, Perm.SETTINGS_WRITE),
        "js_msgs": _fleet_msgs(_)})

