"""Programme windows and volume per zone or node: desired state at HQ, pushed as signed commands, acks tracked."""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from hq_server.inputs import check_timezone
from hq_server.services import zones
from hq_server.services.auth import Perm
from hq_server.services.node_settings import setting_json
from hq_server.storage.tables import DesiredSetting, Node, NodeSetting
from hq_server.web import AUDIT_DETAIL, DB, SETTINGS, ApiError, Routes, json_response, parse_body, path_slug, principal
from loaxa_contract.models import ProgramWindow

routes = Routes()
HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
MAX_WINDOWS = 24


class WindowIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    start: str = Field(description="HH:MM local time")
    end: str = Field(description="HH:MM; before start = the window crosses midnight")
    days: list[int] = Field(default_factory=lambda: list(range(7)), description="0 = Monday")


class ProgrammeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    windows: list[WindowIn] = Field(description=f"At most {MAX_WINDOWS}; none = always open")
    quiet_start: str | None = Field(default=None, description="HH:MM; quiet hours hold all but emergencies")
    quiet_end: str | None = None
    timezone: str = "Asia/Ho_Chi_Minh"


class VolumeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    volume: int = Field(ge=0, le=100, description="Percent; 100 = 0 dB")


def _minutes(v: str) -> int:
    h, m = v.split(":")
    return int(h) * 60 + int(m)


def _covered(w: WindowIn) -> set[int]:
    """Minutes of the week the window covers (an overnight window spills into the next day)."""
    start, end = _minutes(w.start), _minutes(w.end)
    length = (end - start) % 1440
    return {(d * 1440 + start + i) % (7 * 1440) for d in set(w.days) for i in range(length)}


def programme_value(body: ProgrammeIn) -> dict[str, Any]:
    """Field-level checks the schema cannot express; returns the command's fields (contract types)."""
    errors: dict[str, str] = {}
    if len(body.windows) > MAX_WINDOWS:
        errors["windows"] = f"tối đa {MAX_WINDOWS} khung giờ (at most {MAX_WINDOWS} windows)"
    for i, w in enumerate(body.windows):
        for name in ("start", "end"):
            if not HHMM.match(getattr(w, name)):
                errors[f"windows.{i}.{name}"] = "dùng HH:MM, ví dụ 06:30 (use HH:MM, 00:00-23:59)"
        if not w.days or any(not 0 <= d <= 6 for d in w.days) or len(set(w.days)) != len(w.days):
            errors[f"windows.{i}.days"] = "các ngày 0-6 không trùng, 0 = thứ Hai (distinct days 0-6, 0 = Monday)"
        if f"windows.{i}.start" not in errors and f"windows.{i}.end" not in errors and w.start == w.end:
            errors[f"windows.{i}.end"] = ("khung giờ rỗng; qua nửa đêm thì end < start, ví dụ 22:00→02:00 "
                                          "(empty window: end equals start; an overnight window has end < start)")
    if not errors:
        seen: set[int] = set()
        for i, w in enumerate(body.windows):
            minutes = _covered(w)
            if minutes & seen:
                errors[f"windows.{i}"] = "trùng với khung giờ trước (overlaps an earlier window)"
            seen |= minutes
    for name in ("quiet_start", "quiet_end"):
        v = getattr(body, name)
        if v is not None and not HHMM.match(v):
            errors[name] = "dùng HH:MM (use HH:MM)"
    if (body.quiet_start is None) != (body.quiet_end is None):
        errors["quiet_end" if body.quiet_end is None else "quiet_start"] = \
            "cần cả quiet_start và quiet_end (give both or neither)"
    elif body.quiet_start is not None and body.quiet_start == body.quiet_end:
        errors["quiet_end"] = "giờ yên lặng rỗng (quiet_end equals quiet_start)"
    try:
        check_timezone(body.timezone)
    except ValueError as err:
        errors["timezone"] = str(err)
    if errors:
        raise ApiError(400, "Dữ liệu không hợp lệ (invalid input)", errors)
    windows = [ProgramWindow(start=w.start, end=w.end, days=sorted(w.days)).model_dump(mode="json")  # type: ignore[arg-type]
               for w in body.windows]
    return {"windows": windows, "quiet_start": f"{body.quiet_start}:00" if body.quiet_start else None,
            "quiet_end": f"{body.quiet_end}:00" if body.quiet_end else None, "timezone": body.timezone}


def _ident(request: web.Request) -> str:
    return path_slug(request)


async def _zone(request: web.Request) -> str:
    """The zone slug a path names (by slug or name); 400 with the closest known zones if none."""
    async with request.app[DB].sessions() as s:
        return (await zones.load(s)).resolve_one(request.match_info["id"], "zone")


async def _put(request: web.Request, scope: str, kind: str, value: dict[str, Any]) -> web.Response:
    ident = await _zone(request) if scope == "zone" else _ident(request)
    if scope == "node":
        async with request.app[DB].sessions() as s:
            if await s.get(Node, ident) is None:
                raise ApiError(404, "Không tìm thấy loa (no such node; register it with PUT /api/v1/nodes/{id})")
    value = {k: v for k, v in value.items() if v is not None}
    nodes = await request.app[SETTINGS].set_desired(scope, ident, kind, value, principal(request).username)
    request[AUDIT_DETAIL] = {scope: ident, kind: value, "nodes": nodes[:50]}
    async with request.app[DB].sessions() as s:
        rows = (await s.scalars(select(NodeSetting).where(NodeSetting.kind == kind, NodeSetting.node_id.in_(nodes))
                                .order_by(NodeSetting.node_id))).all()
    extra = {}
    if kind == "programme":
        extra["overnight"] = [i for i, w in enumerate(value["windows"]) if w["end"] <= w["start"]]
    return json_response({"scope": scope, "id": ident, "kind": kind, "desired": value, **extra,
                          "nodes": [setting_json(r) for r in rows]})


@routes.route("PUT", "/api/v1/zones/{id}/programme", perm=Perm.SETTINGS_WRITE,
              summary="Programme windows and quiet hours of a zone (sent to each of its nodes)", body=ProgrammeIn)
async def put_zone_programme(request: web.Request) -> web.Response:
    return await _put(request, "zone", "programme", programme_value(await parse_body(request, ProgrammeIn)))


@routes.route("PUT", "/api/v1/nodes/{id}/programme", perm=Perm.SETTINGS_WRITE,
              summary="Programme of one node (wins over its zone's)", body=ProgrammeIn)
async def put_node_programme(request: web.Request) -> web.Response:
    return await _put(request, "node", "programme", programme_value(await parse_body(request, ProgrammeIn)))


@routes.route("PUT", "/api/v1/zones/{id}/volume", perm=Perm.SETTINGS_WRITE, summary="Volume of a zone's nodes",
              body=VolumeIn)
async def put_zone_volume(request: web.Request) -> web.Response:
    return await _put(request, "zone", "volume", (await parse_body(request, VolumeIn)).model_dump())


@routes.route("PUT", "/api/v1/nodes/{id}/volume", perm=Perm.SETTINGS_WRITE,
              summary="Volume of one node (wins over its zone's)", body=VolumeIn)
async def put_node_volume(request: web.Request) -> web.Response:
    return await _put(request, "node", "volume", (await parse_body(request, VolumeIn)).model_dump())


@routes.route("GET", "/api/v1/settings", perm=Perm.FLEET_READ,
              summary="Desired programme/volume per zone and node, and each node's apply state")
async def list_settings(request: web.Request) -> web.Response:
    async with request.app[DB].sessions() as s:
        desired = (await s.scalars(select(DesiredSetting).order_by(DesiredSetting.scope, DesiredSetting.scope_id,
                                                                   DesiredSetting.kind))).all()
        rows = (await s.scalars(select(NodeSetting).order_by(NodeSetting.node_id, NodeSetting.kind))).all()
    return json_response({
        "desired": [{"scope": d.scope, "id": d.scope_id, "kind": d.kind, "value": d.value, "updated_by": d.updated_by,
                     "updated_at": d.updated_at.isoformat()} for d in desired],
        "nodes": [setting_json(r) for r in rows]})
