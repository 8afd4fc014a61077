"""Live fleet views for the web UI: node list/map event stream and a node's health over time.

``GET /api/v1/events/fleet`` streams every node's state as the list and the map show it (labels in the
user's language), so a loudspeaker that goes offline turns red without a reload.
``GET /api/v1/nodes/{id}/history?span=24h|7d`` gives the chart series (online share, temperature, free
disk, clock offset, volume, queue) per bucket, the node's availability and its events in the span.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aiohttp import web
from sqlalchemy import select

from hq_server import sse
from hq_server.services import health_history as hh
from hq_server.services.auth import Perm
from hq_server.storage.tables import Node, NodeEvent, NodeSample, now
from hq_server.ui import fleet_view as fv
from hq_server.ui.render import gettext_for
from hq_server.ui.villages import zone_names
from hq_server.web import DB, ApiError, Routes, json_response, path_slug

routes = Routes()
ORDER = {"offline": 0, "degraded": 1, "unknown": 2, "online": 3}


async def fleet_snapshot(request: web.Request) -> dict[str, Any]:
    """Every node as the list and the map show it, problems first."""
    _ = gettext_for(request)
    async with request.app[DB].sessions() as s:
        nodes = (await s.scalars(select(Node).order_by(Node.id))).all()
        names = await zone_names(s)
    facts = sorted((fv.node_facts(n, names, _) for n in nodes), key=lambda f: (ORDER[f.state], f.id))
    counts = {k: sum(f.state == k for f in facts) for k in ORDER}
    return {"nodes": [f.as_dict() for f in facts], "counts": counts, "total": len(facts)}


@routes.route("GET", "/api/v1/events/fleet", perm=Perm.FLEET_READ,
              summary="Server-sent events: 'nodes' (every node's state, figures and labels) whenever one changes")
async def node_events(request: web.Request) -> web.StreamResponse:
    return await sse.follow(request, "nodes", lambda: fleet_snapshot(request))


def _span(request: web.Request) -> str:
    span = request.query.get("span", "24h")
    if span not in hh.SPANS:
        raise ApiError(400, "Khoảng thời gian không hợp lệ (span must be 24h or 7d)", {"span": "24h or 7d"})
    return span


async def node_history(request: web.Request, node_id: str, span: str, end: datetime | None = None) -> dict[str, Any]:
    end = end or now()
    b = hh.buckets_for(span, end)
    async with request.app[DB].sessions() as s:
        if await s.get(Node, node_id) is None:
            raise ApiError(404, "Không tìm thấy loa (no such node)")
        samples = (await s.scalars(select(NodeSample).where(NodeSample.node_id == node_id, NodeSample.at >= b.start)
                                   .order_by(NodeSample.at))).all()
        spans = (await hh.node_intervals(s, node_id, b.start, end)).get(node_id) or [hh.Interval(b.start, end, None)]
        events = (await s.scalars(select(NodeEvent).where(NodeEvent.node_id == node_id, NodeEvent.at >= b.start)
                                  .order_by(NodeEvent.at.desc()).limit(500))).all()
    avail = hh.availability(spans)
    series: dict[str, Any] = {"t": b.times, "online": hh.online_series(spans, b)}
    for name in hh.FIELDS:
        series[name] = hh.mean_series(samples, b, name)
    return {"node": node_id, "span": span, "step_s": b.step_s, "from": b.start.isoformat(), "to": end.isoformat(),
            "series": series, "samples": len(samples),
            "availability": {"uptime_percent": avail.uptime_percent, "online_s": round(avail.online_s),
                             "offline_s": round(avail.offline_s), "unknown_s": round(avail.unknown_s),
                             "disconnects": avail.disconnects},
            "events": [{"at": e.at.isoformat(), "event": e.event, "detail": e.detail} for e in events]}


@routes.route("GET", "/api/v1/nodes/{id}/history", perm=Perm.FLEET_READ,
              summary="A node's health over time (?span=24h|7d): bucketed series, availability, events")
async def history(request: web.Request) -> web.Response:
    return json_response(await node_history(request, path_slug(request), _span(request)))
