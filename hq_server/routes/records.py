"""Alerts, audit log and reports (broadcast statistics and per-node history, JSON or CSV)."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from hq_server.inputs import check_param, query_instant
from hq_server.services.auth import Perm
from hq_server.storage.tables import Alert, AuditEntry, Bulletin, Delivery, Node, NodeEvent, Occurrence, now
from hq_server.web import (
    AUDIT_DETAIL,
    DB,
    ApiError,
    Routes,
    json_response,
    parse_json,
    path_int,
    principal,
    query_int,
)

routes = Routes()
LOCAL = ZoneInfo("Asia/Ho_Chi_Minh")
FAILED = ("failed", "expired", "offline")


def _limit(request: web.Request, default: int = 200) -> int:
    return query_int(request, "limit", default, 1, 5000)


def _since(request: web.Request) -> datetime | None:
    return query_instant("from", request.query.get("from"), LOCAL)


def _csv_or_json(request: web.Request, key: str, rows: list[dict[str, Any]], name: str) -> web.Response:
    if request.query.get("format") == "csv":
        buf = io.StringIO()
        if rows:
            writer = csv.DictWriter(buf, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
        return web.Response(body=("\ufeff" + buf.getvalue()).encode("utf-8"),  # BOM: Excel reads UTF-8
                            content_type="text/csv", charset="utf-8",
                            headers={"Content-Disposition": f'attachment; filename="{name}.csv"'})
    return json_response({key: rows})


ALERT_STATES = ("open", "acknowledged", "all")
SEVERITIES = ("info", "warning", "critical")


class AcknowledgeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: str = Field(default="", max_length=500, description="What was done (e.g. 'Đã cử người kiểm tra')")


def alert_json(a: Alert) -> dict[str, Any]:
    return {"id": a.id, "at": a.at.isoformat(), "kind": a.kind, "severity": a.severity, "subject": a.subject,
            "message": a.message, "detail": a.detail, "context": a.context,
            "delivered": a.delivered, "delivery_error": a.delivery_error,
            "delivery_attempts": a.delivery_attempts, "delivery_pending": a.delivery_pending,
            "last_attempt_at": a.last_attempt_at.isoformat() if a.last_attempt_at else None,
            "acknowledged": a.acknowledged_by is not None, "acknowledged_by": a.acknowledged_by,
            "acknowledged_at": a.acknowledged_at.isoformat() if a.acknowledged_at else None,
            "acknowledged_note": a.acknowledged_note}


def _choice(request: web.Request, name: str, allowed: tuple[str, ...], default: str | None) -> str | None:
    value = request.query.get(name, default)
    if value is not None and value not in allowed:
        raise ApiError(400, f"{name} phải là {', '.join(allowed)} ({name} must be one of {', '.join(allowed)})",
                       {name: f"one of {', '.join(allowed)}"})
    return value


@routes.route("GET", "/api/v1/alerts", perm=Perm.ALERT_READ,
              summary="Alert log, newest first (?state=open|acknowledged|all&kind=&camera=&severity=&limit=)")
async def alerts(request: web.Request) -> web.Response:
    q = select(Alert).order_by(Alert.id.desc()).limit(_limit(request))
    state = _choice(request, "state", ALERT_STATES, "all")
    if state == "open":
        q = q.where(Alert.acknowledged_by.is_(None))
    elif state == "acknowledged":
        q = q.where(Alert.acknowledged_by.is_not(None))
    if severity := _choice(request, "severity", SEVERITIES, None):
        q = q.where(Alert.severity == severity)
    if kind := request.query.get("kind"):
        q = q.where(Alert.kind == check_param("kind", kind))
    if camera := request.query.get("camera"):
        q = q.where(Alert.subject == check_param("camera", camera), Alert.kind.like("camera%"))
    async with request.app[DB].sessions() as s:
        rows = (await s.scalars(q)).all()
        return json_response({"alerts": [alert_json(a) for a in rows]})


@routes.route("POST", "/api/v1/alerts/{id}/acknowledge", perm=Perm.ALERT_WRITE, body=AcknowledgeIn,
              summary="Acknowledge an alert: who, when and an optional note are recorded")
async def acknowledge(request: web.Request) -> web.Response:
    alert_id = path_int(request)
    body = AcknowledgeIn.model_validate(await parse_json(request)) if request.can_read_body else AcknowledgeIn()
    async with request.app[DB].sessions() as s:
        a = await s.get(Alert, alert_id)
        if a is None:
            raise ApiError(404, "Không tìm thấy cảnh báo (no such alert)")
        if a.acknowledged_by is not None:
            raise ApiError(409, f"Cảnh báo đã được {a.acknowledged_by} xác nhận lúc "
                                f"{a.acknowledged_at.astimezone(LOCAL):%H:%M %d/%m/%Y} (already acknowledged)"
                           if a.acknowledged_at else f"Cảnh báo đã được {a.acknowledged_by} xác nhận "
                                                     "(already acknowledged)")
        a.acknowledged_by, a.acknowledged_at = principal(request).username, now()
        a.acknowledged_note = " ".join(body.note.split()) or None
        await s.commit()
    request[AUDIT_DETAIL] = {"alert": alert_id, "note": (a.acknowledged_note or "")[:80]}
    return json_response({"alert": alert_json(a), "id": alert_id, "acknowledged_by": a.acknowledged_by,
                          "acknowledged_note": a.acknowledged_note, "acknowledged_at": a.acknowledged_at.isoformat()})


@routes.route("GET", "/api/v1/audit", perm=Perm.AUDIT_READ, summary="Audit log: who did what, when, from where")
async def audit(request: web.Request) -> web.Response:
    async with request.app[DB].sessions() as s:
        rows = (await s.scalars(select(AuditEntry).order_by(AuditEntry.id.desc()).limit(_limit(request)))).all()
        out = [{"id": e.id, "at": e.at.isoformat(), "user": e.username, "role": e.role, "action": e.action,
                "target": e.target, "ip": e.ip, "status": e.status, "detail": e.detail} for e in rows]
    if request.query.get("format") == "csv":
        for row in out:
            row["detail"] = str(row["detail"])
    return _csv_or_json(request, "audit", out, "audit")


@routes.route("GET", "/api/v1/reports/broadcasts", perm=Perm.REPORT_READ,
              summary="Broadcast statistics per day, zone or node (?group=day|zone|node&from=&format=csv)")
async def broadcasts(request: web.Request) -> web.Response:
    group = request.query.get("group", "day")
    if group not in ("day", "zone", "node"):
        raise ApiError(400, "group phải là day, zone hoặc node", {"group": "use day, zone or node"})
    since = _since(request)
    async with request.app[DB].sessions() as s:
        q = select(Delivery, Bulletin).join(Bulletin, Bulletin.id == Delivery.bulletin_id)
        if since:
            q = q.where(Bulletin.created_at >= since)
        rows = (await s.execute(q)).all()
        oq = select(Occurrence, Bulletin).join(Bulletin, Bulletin.id == Occurrence.bulletin_id).where(
            Occurrence.state == "played")
        occurrence_rows = (await s.execute(oq.where(Bulletin.created_at >= since) if since else oq)).all()
        nodes = (await s.scalars(select(Node))).all()
    zones = {n.id: (n.zones or []) for n in nodes}
    cameras = {n.id for n in nodes if n.kind == "camera"}  # no loudspeaker: never part of broadcast figures
    rows = [(d, b) for d, b in rows if d.node_id not in cameras]
    occurrence_rows = [(o, b) for o, b in occurrence_rows if o.node_id not in cameras]
    stats: dict[str, dict[str, float]] = defaultdict(lambda: {"bulletins": 0, "played": 0, "minutes": 0.0,
                                                              "failures": 0})
    seen: dict[str, set[str]] = defaultdict(set)
    for d, b in rows:
        when = (d.started_at or b.sent_at or b.created_at).astimezone(LOCAL).date().isoformat()
        keys = {"day": [when], "node": [d.node_id], "zone": zones.get(d.node_id) or ["(none)"]}[group]
        for key in keys:
            st = stats[key]
            if b.id not in seen[key]:
                seen[key].add(b.id)
                st["bulletins"] += 1
            if d.state == "played" and b.recurrence:
                continue  # a recurring bulletin's plays are its occurrences, counted below
            if d.state == "played":
                st["played"] += 1
                st["minutes"] += (d.duration_s or 0) / 60
            elif d.state in FAILED:
                st["failures"] += 1
    for o, b in occurrence_rows:  # each played occurrence of a recurring bulletin is one play
        keys = {"day": [o.occurrence], "node": [o.node_id], "zone": zones.get(o.node_id) or ["(none)"]}[group]
        for key in keys:
            if b.id not in seen[key]:
                seen[key].add(b.id)
                stats[key]["bulletins"] += 1
            stats[key]["played"] += 1
            stats[key]["minutes"] += (o.duration_s or 0) / 60
    out = [{group: k, "bulletins": int(v["bulletins"]), "plays": int(v["played"]),
            "minutes_played": round(v["minutes"], 2), "failures": int(v["failures"])} for k, v in sorted(stats.items())]
    return _csv_or_json(request, "rows", out, f"broadcasts-by-{group}")


@routes.route("GET", "/api/v1/reports/nodes", perm=Perm.REPORT_READ,
              summary="Per node: disconnects, reconnects, reboots, network/error state, temperature (?format=csv)")
async def nodes_report(request: web.Request) -> web.Response:
    since = _since(request)
    async with request.app[DB].sessions() as s:
        nodes = (await s.scalars(select(Node).order_by(Node.id))).all()
        q = select(NodeEvent).order_by(NodeEvent.at)
        if since:
            q = q.where(NodeEvent.at >= since)
        events = (await s.scalars(q)).all()
        fails = (await s.scalars(select(Delivery).where(Delivery.state.in_(FAILED)))).all()
    by_node: dict[str, list[NodeEvent]] = defaultdict(list)
    for e in events:
        by_node[e.node_id].append(e)
    failures: dict[str, int] = defaultdict(int)
    for d in fails:
        failures[d.node_id] += 1
    out = []
    for n in nodes:
        evs = by_node[n.id]
        health = n.last_health or {}
        out.append({
            "node": n.id, "zones": " ".join(n.zones or []), "state": n.state,
            "state_since": n.state_since.isoformat(),
            "disconnects": sum(e.event == "offline" for e in evs), "reconnects": sum(e.event == "online" for e in evs),
            "reboots": sum(e.event == "reboot" for e in evs),
            "last_disconnect": next((e.at.isoformat() for e in reversed(evs) if e.event == "offline"), None),
            "last_reconnect": next((e.at.isoformat() for e in reversed(evs) if e.event == "online"), None),
            "cpu_temp_c": health.get("cpu_temp_c"), "audio_device_ok": health.get("audio_device_ok"),
            "clock_offset_ms": health.get("clock_offset_ms"), "delivery_failures": failures[n.id],
            "agent_version": n.agent_version,
        })
    return _csv_or_json(request, "nodes", out, "nodes")
