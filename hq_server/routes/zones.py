"""Zones: the villages a bulletin, a programme or a node can name, with their Vietnamese display names.

``GET /api/v1/zones`` is what a village picker shows (slug, name, how many loudspeakers); technicians and
admins create, rename and delete zones. ``{id}`` in a path is a slug or a name ("Thôn 1", URL-encoded).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from hq_server.services import zones
from hq_server.services.auth import Perm
from hq_server.storage.tables import Camera, DesiredSetting, Node, Zone, now
from hq_server.web import AUDIT_DETAIL, DB, ApiError, Routes, json_response, parse_body, principal
from loaxa_contract.topics import check_id

routes = Routes()


def _name(v: str) -> str:
    v = " ".join(v.split())
    if not v:
        raise ValueError("tên khu vực trống (the name is empty)")
    return v


class ZoneIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=100, description="Display name, e.g. 'Thôn 1'")
    slug: str | None = Field(default=None, max_length=64,
                             description="Id used in topics and URLs; default: from the name ('thon-1')")

    _n = field_validator("name")(_name)

    @field_validator("slug")
    @classmethod
    def _slug(cls, v: str | None) -> str | None:
        return None if v is None else check_id(v, "zone")


class ZoneRename(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=100)

    _n = field_validator("name")(_name)


def zone_json(z: Zone, nodes: list[Node]) -> dict[str, Any]:
    members = sorted((n for n in nodes if z.slug in (n.zones or [])), key=lambda n: n.id)
    return {"slug": z.slug, "name": z.name, "node_count": len(members),
            "speaker_count": sum(n.kind != "camera" for n in members),
            "online_count": sum(n.state == "online" for n in members),
            "nodes": [n.id for n in members], "created_by": z.created_by,
            "updated_at": z.updated_at.isoformat()}


async def _zone_or_404(session: AsyncSession, ref: str) -> Zone:
    registry = await zones.load(session)
    slug = registry.find(ref)
    z = await session.get(Zone, slug) if slug else None
    if z is None:
        raise ApiError(404, "Không tìm thấy khu vực (no such zone)", {"zone": registry.unknown_message(ref)})
    return z


async def _name_taken(session: AsyncSession, name: str, other_than: str | None = None) -> None:
    key = zones.slugify(name)
    for z in (await session.scalars(select(Zone))).all():
        if z.slug != other_than and zones.slugify(z.name) == key:
            raise ApiError(409, f"Tên này đã dùng cho khu vực '{z.slug}' (name already used by zone '{z.slug}')",
                           {"name": f"used by {z.slug}"})


@routes.route("GET", "/api/v1/zones", perm=Perm.FLEET_READ, summary="Zones with display name and node counts")
async def list_zones(request: web.Request) -> web.Response:
    async with request.app[DB].sessions() as s:
        rows = (await s.scalars(select(Zone).order_by(Zone.slug))).all()
        nodes = list((await s.scalars(select(Node))).all())
    return json_response({"zones": [zone_json(z, nodes) for z in rows]})


@routes.route("GET", "/api/v1/zones/{id}", perm=Perm.FLEET_READ, summary="A zone (by slug or name)")
async def read_zone(request: web.Request) -> web.Response:
    async with request.app[DB].sessions() as s:
        z = await _zone_or_404(s, request.match_info["id"])
        nodes = list((await s.scalars(select(Node))).all())
    return json_response({"zone": zone_json(z, nodes)})


@routes.route("POST", "/api/v1/zones", perm=Perm.FLEET_WRITE, summary="Create a zone", body=ZoneIn)
async def create_zone(request: web.Request) -> web.Response:
    body = await parse_body(request, ZoneIn)
    slug = body.slug or zones.slugify(body.name)
    if not slug:
        raise ApiError(400, "Không tạo được mã từ tên; hãy cho slug (give a slug)", {"slug": "required"})
    async with request.app[DB].sessions() as s:
        if await s.get(Zone, slug) is not None:
            raise ApiError(409, f"Khu vực '{slug}' đã có (zone already exists)", {"slug": "exists"})
        await _name_taken(s, body.name)
        z = Zone(slug=slug, name=body.name, created_by=principal(request).username, created_at=now(),
                 updated_at=now())
        s.add(z)
        try:
            await s.commit()
        except IntegrityError as err:  # created at the same moment (by a node's claim or another user)
            raise ApiError(409, f"Khu vực '{slug}' đã có (zone already exists)", {"slug": "exists"}) from err
    request[AUDIT_DETAIL] = {"zone": slug, "name": body.name}
    return json_response({"zone": zone_json(z, [])}, 201)


@routes.route("PATCH", "/api/v1/zones/{id}", perm=Perm.FLEET_WRITE, summary="Rename a zone", body=ZoneRename)
async def rename_zone(request: web.Request) -> web.Response:
    body = await parse_body(request, ZoneRename)
    async with request.app[DB].sessions() as s:
        z = await _zone_or_404(s, request.match_info["id"])
        await _name_taken(s, body.name, other_than=z.slug)
        old, z.name, z.updated_at = z.name, body.name, now()
        await s.commit()
        nodes = list((await s.scalars(select(Node))).all())
    request[AUDIT_DETAIL] = {"zone": z.slug, "name": body.name, "was": old}
    return json_response({"zone": zone_json(z, nodes)})


@routes.route("DELETE", "/api/v1/zones/{id}", perm=Perm.FLEET_WRITE,
              summary="Delete a zone no node, camera or programme/volume uses")
async def delete_zone(request: web.Request) -> web.Response:
    async with request.app[DB].sessions() as s:
        z = await _zone_or_404(s, request.match_info["id"])
        users = [f"node {n.id}" for n in (await s.scalars(select(Node))).all() if z.slug in (n.zones or [])]
        users += [f"camera {c}" for c in (await s.scalars(select(Camera.id).where(Camera.zone == z.slug))).all()]
        users += [f"{k} setting" for k in (await s.scalars(select(DesiredSetting.kind).where(
            DesiredSetting.scope == "zone", DesiredSetting.scope_id == z.slug))).all()]
        if users:
            raise ApiError(409, f"Khu vực còn được dùng (zone still in use): {', '.join(users[:10])}",
                           {"zone": "in use"})
        await s.delete(z)
        await s.commit()
    request[AUDIT_DETAIL] = {"zone": z.slug}
    return json_response({"deleted": z.slug})
