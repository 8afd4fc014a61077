"""Alerts, audit log and reports (broadcast statistics and per-node history, JSON or CSV)."""

from __future__ import annotations

import csv
import io
import json
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Select, or_, select

from hq_server.inputs import check_param, query_instant
from hq_server.services import reports
from hq_server.services.auth import Perm
from hq_server.services.health_history import node_intervals
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


OUTCOMES = {"ok": (0, 400), "refused": (400, 500), "error": (500, 1000)}


def audit_query(request: web.Request) -> Select[tuple[AuditEntry]]:
    """The audit entries matching ``?user=&q=&from=&to=&outcome=ok|refused|error``, newest first (the web UI's
    viewer and its CSV export use this same query, so the export is what the page shows)."""
    q = request.query
    stmt = select(AuditEntry).order_by(AuditEntry.id.desc())
    if user := q.get("user"):
        stmt = stmt.where(AuditEntry.username == user)
    if text := q.get("q", "").strip():
        like = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        stmt = stmt.where(or_(AuditEntry.action.ilike(like, escape="\\"), AuditEntry.target.ilike(like, escape="\\"),
                              AuditEntry.username.ilike(like, escape="\\"),
                              sa.cast(AuditEntry.detail, sa.String).ilike(like, escape="\\")))
    start, end = _period(request)
    if start:
        stmt = stmt.where(AuditEntry.at >= start)
    if end:
        stmt = stmt.where(AuditEntry.at < end)
    if outcome := q.get("outcome"):
        if outcome not in OUTCOMES:
            raise ApiError(400, "outcome phải là ok, refused hoặc error", {"outcome": "use ok, refused or error"})
        lo, hi = OUTCOMES[outcome]
        stmt = stmt.where(AuditEntry.status >= lo, AuditEntry.status < hi)
    return stmt


def audit_json(e: AuditEntry) -> dict[str, Any]:
    return {"id": e.id, "at": e.at.isoformat(), "user": e.username, "role": e.role, "action": e.action,
            "target": e.target, "ip": e.ip, "status": e.status, "detail": e.detail}


@routes.route("GET", "/api/v1/audit", perm=Perm.AUDIT_READ,
              summary="Audit log: who did what, when, from where (?user=&q=&from=&to=&outcome=ok|refused|error"
                      "&limit=&format=csv)")
async def audit(request: web.Request) -> web.Response:
    async with request.app[DB].sessions() as s:
        rows = (await s.scalars(audit_query(request).limit(_limit(request)))).all()
        out = [audit_json(e) for e in rows]
    if request.query.get("format") == "csv":
        for row in out:
            row["detail"] = json.dumps(row["detail"], ensure_ascii=False, sort_keys=True)
    return _csv_or_json(request, "audit", out, "audit")


def _period(request: web.Request) -> tuple[datetime | None, datetime | None]:
    """``?from=`` and ``?to=`` (ISO date or instant, naive = Vietnam time; ``to`` exclusive)."""
    start = _since(request)
    end = query_instant("to", request.query.get("to"), LOCAL)
    if start and end and end <= start:
        raise ApiError(400, "'to' phải sau 'from' ('to' must be after 'from')", {"to": "after from"})
    return start, end


@routes.route("GET", "/api/v1/reports/broadcasts", perm=Perm.REPORT_READ,
              summary="Broadcast statistics per day, zone, node or bulletin: bulletins, plays, seconds and minutes "
                      "played, failures (?group=day|zone|node|bulletin&from=&to=&format=csv)")
async def broadcasts(request: web.Request) -> web.Response:
    group = request.query.get("group", "day")
    if group not in reports.GROUPS:
        raise ApiError(400, "group phải là day, zone, node hoặc bulletin", {"group": "use day, zone, node or bulletin"})
    start, end = _period(request)
    async with request.app[DB].sessions() as s:
        q = select(Delivery, Bulletin).join(Bulletin, Bulletin.id == Delivery.bulletin_id)
        oq = select(Occurrence, Bulletin).join(Bulletin, Bulletin.id == Occurrence.bulletin_id).where(
            Occurrence.state == "played")
        if start:
            q, oq = q.where(Bulletin.created_at >= start), oq.where(Bulletin.created_at >= start)
        if end:
            q, oq = q.where(Bulletin.created_at < end), oq.where(Bulletin.created_at < end)
        rows = (await s.execute(q)).all()
        occurrence_rows = (await s.execute(oq)).all()
        nodes = (await s.scalars(select(Node))).all()
    zones = {n.id: (n.zones or []) for n in nodes}
    cameras = {n.id for n in nodes if n.kind == "camera"}  # no loudspeaker: never part of broadcast figures
    out = reports.broadcast_rows(rows, occurrence_rows, zones, cameras, group)
    return _csv_or_json(request, "rows", out, f"broadcasts-by-{group}")


@routes.route("GET", "/api/v1/reports/nodes", perm=Perm.REPORT_READ,
              summary="Per node over the period: uptime %, online/offline seconds, disconnects, reconnects, reboots, "
                      "last disconnect/reconnect, delivery failures, temperature, sound card (?from=&to=&format=csv)")
async def nodes_report(request: web.Request) -> web.Response:
    start, end = _period(request)
    end = end or now()
    start = start or end - timedelta(days=30)
    async with request.app[DB].sessions() as s:
        nodes = (await s.scalars(select(Node).order_by(Node.id))).all()
        events = (await s.scalars(select(NodeEvent).where(NodeEvent.at >= start, NodeEvent.at < end)
                                  .order_by(NodeEvent.at))).all()
        fails = (await s.scalars(select(Delivery).join(Bulletin, Bulletin.id == Delivery.bulletin_id).where(
            Delivery.state.in_(FAILED), Bulletin.created_at >= start, Bulletin.created_at < end))).all()
        spans = await node_intervals(s, None, start, end)
    by_node: dict[str, list[NodeEvent]] = defaultdict(list)
    for e in events:
        by_node[e.node_id].append(e)
    failures: dict[str, int] = defaultdict(int)
    for d in fails:
        failures[d.node_id] += 1
    return _csv_or_json(request, "nodes", reports.node_rows(nodes, by_node, spans, failures, start, end), "nodes")
