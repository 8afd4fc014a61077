"""``/metrics`` (Prometheus text) and ``/api/v1/openapi.json`` (generated from the route table)."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from sqlalchemy import func, select

from hq_server.services import metrics as prom
from hq_server.services.auth import Perm
from hq_server.storage.tables import Bulletin, Camera, Delivery, Node
from hq_server.web import DB, METRICS, ORCH, Routes, RouteSpec, json_response

routes = Routes()


@routes.route("GET", "/metrics", perm=Perm.METRICS, summary="Prometheus metrics")
async def metrics(request: web.Request) -> web.Response:
    async with request.app[DB].sessions() as s:
        online = await s.scalar(select(func.count()).select_from(Node).where(Node.state == "online")) or 0
        cams = (await s.execute(select(Camera.status, func.count()).group_by(Camera.status))).all()
        bulletins = (await s.execute(select(Bulletin.state, func.count()).group_by(Bulletin.state))).all()
        deliveries = (await s.execute(select(Delivery.state, func.count()).group_by(Delivery.state))).all()
    orch = request.app[ORCH]
    links = (orch.link, orch.outbound)
    registry = request.app[METRICS]
    registry.set_states({
        "loaxa_hq_nodes_online": [({}, online)],
        "loaxa_hq_cameras": [({"status": st}, c) for st, c in cams],
        "loaxa_hq_bulletins": [({"state": st}, c) for st, c in bulletins],
        "loaxa_hq_deliveries": [({"state": st}, c) for st, c in deliveries],
        "loaxa_hq_mqtt_reconnects_total": [({}, sum(max(0, link.connects - 1) for link in links))],
        "loaxa_hq_mqtt_connected": [({}, 1 if all(link.connected for link in links) else 0)],
        "loaxa_hq_inbound_read_pauses_total": [({}, orch.link.read_pauses)],
        "loaxa_hq_leader": [({}, 1 if orch.leading else 0)],
    })
    return web.Response(body=registry.render(), headers={"Content-Type": prom.CONTENT_TYPE,
                                                         "X-Content-Type-Options": "nosniff"})


def openapi(specs: list[RouteSpec]) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    schemas: dict[str, Any] = {}
    for spec in specs:
        op: dict[str, Any] = {"summary": spec.summary, "responses": {
            "200": {"description": "OK"}, "400": {"description": "Invalid input: {error, fields}"},
            "401": {"description": "Not authenticated"}, "403": {"description": "Not allowed"}}}
        if spec.perm is None and not spec.authenticated_only:
            op["security"] = []
        else:
            op["x-permission"] = spec.perm.value if spec.perm else "any authenticated user"
        if spec.body is not None:
            schema = spec.body.model_json_schema(ref_template="#/components/schemas/{model}")
            schemas.update(schema.pop("$defs", {}))
            schemas[spec.body.__name__] = schema
            op["requestBody"] = {"required": True, "content": {"application/json": {
                "schema": {"$ref": f"#/components/schemas/{spec.body.__name__}"}}}}
        params = [seg[1:-1] for seg in spec.path.split("/") if seg.startswith("{")]
        if params:
            op["parameters"] = [{"name": p, "in": "path", "required": True, "schema": {"type": "string"}}
                                for p in params]
        paths.setdefault(spec.path, {})[spec.method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {"title": "LoaXa HQ API", "version": "1",
                 "description": "Commune smart-radio HQ. Authenticate with a session cookie (+ X-CSRF-Token "
                                "header on changes) or 'Authorization: Bearer <token>'."},
        "paths": paths,
        "components": {"schemas": schemas, "securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer"},
            "session": {"type": "apiKey", "in": "cookie", "name": "loaxa_session"}}},
        "security": [{"bearer": []}, {"session": []}],
    }


OPENAPI_SPECS: list[RouteSpec] = []


@routes.route("GET", "/api/v1/openapi.json", perm=None, summary="This OpenAPI description")
async def openapi_json(request: web.Request) -> web.Response:
    return json_response(openapi(OPENAPI_SPECS))
