"""Nodes and cameras: the registry (technicians), status, events and camera history."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Annotated, Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from hq_server.services import fleet, zones
from hq_server.services.auth import Perm
from hq_server.storage.tables import Camera, CameraEvent, Node, NodeEvent, now
from hq_server.web import (
    AUDIT_DETAIL,
    DB,
    MEMBERSHIP,
    ORCH,
    SETTINGS,
    ApiError,
    Routes,
    json_response,
    parse_body,
    path_slug,
)
from loaxa_contract.topics import valid_id

logger = logging.getLogger(__name__)

routes = Routes()


class NodeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["speaker", "camera", "mixed"] = "speaker"
    zones: list[Annotated[str, Field(min_length=1, max_length=100)]] | None = Field(
        default=None, max_length=20,
        description="Zone slugs or names: HQ's assignment, pushed to the node (signed set_zones) and kept over the "
                    "node's own configuration; omit to leave the membership as it is")
    location: str = Field(default="", max_length=200)
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)


class CameraIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    node: str = Field(default="", max_length=64, description="The node that watches it ('' = none yet)")
    zone: str | None = Field(default=None, max_length=100, description="Zone slug or name")
    location: str = Field(default="", max_length=200)
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)


def _iso(v: datetime | None) -> str | None:
    return v.isoformat() if v else None


def node_json(n: Node, link_up: bool = True) -> dict[str, Any]:
    """``state`` is what HQ can vouch for now: ``unknown`` while HQ is cut off from the broker (the stored
    state, kept as ``last_known_state``, may be stale then)."""
    view = fleet.node_view(n, link_up)
    return {"id": n.id, "kind": n.kind, "zones": n.zones, "zones_source": "hq" if n.zones_assigned else "node",
            "reported_zones": n.reported_zones, "location": n.location, "lat": n.lat, "lon": n.lon,
            "registered": n.registered, "state": view.state, "state_since": _iso(n.state_since),
            "state_reason": view.reason, "last_known_state": n.state,
            "state_for_s": round((now() - n.state_since).total_seconds(), 1), "last_seen_at": _iso(n.last_seen_at),
            "agent_version": n.agent_version, "health": n.last_health}


def camera_json(c: Camera, node: Node | None = None, link_up: bool = True) -> dict[str, Any]:
    """A camera with the state of the node that watches it (police have no fleet access otherwise)."""
    view = fleet.camera_view(c, node, link_up)
    node_view = fleet.node_view(node, link_up) if node is not None else None
    return {"id": c.id, "name": c.name, "node": c.node_id, "zone": c.zone, "location": c.location, "lat": c.lat,
            "lon": c.lon, "registered": c.registered, "status": view.state, "status_since": _iso(c.status_since),
            "status_reason": view.reason, "health": c.last_health,
            "node_state": None if node is None or node_view is None else {
                "state": node_view.state, "since": _iso(node.state_since), "reason": node_view.reason}}


def _link_up(request: web.Request) -> bool:
    orch = request.app.get(ORCH)
    return orch is not None and orch.link.connected


async def _nodes_of(s: AsyncSession, cams: list[Camera]) -> dict[str, Node]:
    ids = sorted({c.node_id for c in cams if c.node_id})
    return {n.id: n for n in (await s.scalars(select(Node).where(Node.id.in_(ids)))).all()} if ids else {}


def _slug(request: web.Request) -> str:
    return path_slug(request)


@routes.route("GET", "/api/v1/nodes", perm=Perm.FLEET_READ, summary="List nodes with online state")
async def list_nodes(request: web.Request) -> web.Response:
    async with request.app[DB].sessions() as s:
        nodes = (await s.scalars(select(Node).order_by(Node.id))).all()
        link_up = _link_up(request)
        return json_response({"nodes": [node_json(n, link_up) for n in nodes],
                              "online": sum(n.state == "online" for n in nodes) if link_up else 0,
                              "broker_connected": link_up})


@routes.route("GET", "/api/v1/nodes/{id}", perm=Perm.FLEET_READ, summary="A node with its recent events")
async def read_node(request: web.Request) -> web.Response:
    async with request.app[DB].sessions() as s:
        n = await s.get(Node, _slug(request))
        if n is None:
            raise ApiError(404, "Không tìm thấy loa (no such node)")
        events = (await s.scalars(select(NodeEvent).where(NodeEvent.node_id == n.id)
                                  .order_by(NodeEvent.at.desc()).limit(200))).all()
        return json_response({"node": node_json(n, _link_up(request)), "events": [
            {"at": e.at.isoformat(), "event": e.event, "detail": e.detail} for e in events]})


@routes.route("PUT", "/api/v1/nodes/{id}", perm=Perm.FLEET_WRITE, summary="Register or update a node", body=NodeIn)
async def put_node(request: web.Request) -> web.Response:
    ident = _slug(request)
    body = await parse_body(request, NodeIn)
    async with request.app[DB].sessions() as s:
        if body.zones is not None:
            body.zones = (await zones.load(s)).resolve(body.zones, "zones")
        n = await s.get(Node, ident)
        created = n is None
        if n is None:
            n = Node(id=ident, state="unknown", state_since=now(), zones=[])
            s.add(n)
        n.kind, n.location, n.lat, n.lon = body.kind, body.location, body.lat, body.lon
        if body.zones is not None:
            n.zones, n.zones_assigned = body.zones, True
        n.registered = True
        await s.commit()
    request[AUDIT_DETAIL] = body.model_dump()
    if body.zones is not None:
        await request.app[MEMBERSHIP].assign(ident, body.zones)
        await request.app[SETTINGS].sync([ident])  # its effective programme/volume may come from its new zone
    return json_response({"node": node_json(n)}, 201 if created else 200)


async def _check_camera_links(s: AsyncSession, body: CameraIn) -> None:
    """A camera points at a node HQ knows and a zone that exists (snapshot commands go to that node)."""
    errors: dict[str, str] = {}
    if body.node and (not valid_id(body.node) or await s.get(Node, body.node) is None):
        errors["node"] = "không có máy trạm này; đăng ký bằng PUT /api/v1/nodes/{id} (no such node)"
    if body.zone is not None:
        registry = await zones.load(s)
        found = registry.find(body.zone)
        if found is None:
            errors["zone"] = registry.unknown_message(body.zone)
        else:
            body.zone = found
    if errors:
        raise ApiError(400, "Dữ liệu không hợp lệ (invalid input)", errors)


@routes.route("GET", "/api/v1/cameras", perm=Perm.CAMERA_READ, summary="List cameras with status")
async def list_cameras(request: web.Request) -> web.Response:
    async with request.app[DB].sessions() as s:
        cams = (await s.scalars(select(Camera).order_by(Camera.id))).all()
        nodes, link_up = await _nodes_of(s, list(cams)), _link_up(request)
        return json_response({"cameras": [camera_json(c, nodes.get(c.node_id), link_up) for c in cams],
                              "broker_connected": link_up})


@routes.route("GET", "/api/v1/cameras/{id}", perm=Perm.CAMERA_READ, summary="A camera with its status history")
async def read_camera(request: web.Request) -> web.Response:
    async with request.app[DB].sessions() as s:
        c = await s.get(Camera, _slug(request))
        if c is None:
            raise ApiError(404, "Không tìm thấy camera (no such camera)")
        events = (await s.scalars(select(CameraEvent).where(CameraEvent.camera_id == c.id)
                                  .order_by(CameraEvent.at.desc()).limit(500))).all()
        node = await s.get(Node, c.node_id) if c.node_id else None
        return json_response({"camera": camera_json(c, node, _link_up(request)), "history": [
            {"at": e.at.isoformat(), "status": e.status, "detail": e.detail} for e in events]})


@routes.route("PUT", "/api/v1/cameras/{id}", perm=Perm.FLEET_WRITE, summary="Register or update a camera",
              body=CameraIn)
async def put_camera(request: web.Request) -> web.Response:
    ident = _slug(request)
    body = await parse_body(request, CameraIn)
    # A node's first health report (or detection) inserts an unregistered camera row on its own: when it
    # lands between our read and our commit, the insert here collides with it. That is not an error for
    # the technician: the camera now exists, so the registration is retried once as an update.
    for attempt in range(2):
        async with request.app[DB].sessions() as s:
            await _check_camera_links(s, body)
            c = await s.get(Camera, ident)
            created = c is None
            if c is None:
                c = Camera(id=ident, status="unknown", status_since=now())
                s.add(c)
            c.node_id, c.zone, c.location, c.lat, c.lon = body.node, body.zone, body.location, body.lat, body.lon
            c.registered = True
            try:
                await s.commit()
                break
            except IntegrityError as err:
                await s.rollback()
                if not created or attempt:
                    raise ApiError(409, "Camera vừa được thay đổi cùng lúc, hãy thử lại (camera changed at the "
                                        "same moment, retry)") from err
                logger.info("camera %s was inserted by a node's report during its registration: updating it", ident)
    request[AUDIT_DETAIL] = body.model_dump()
    return json_response({"camera": camera_json(c)}, 201 if created else 200)
