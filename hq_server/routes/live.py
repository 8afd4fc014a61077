"""Live delivery: a server-sent-event stream of a bulletin's per-loudspeaker states, and re-send to failures.

Why polling the database inside the stream: every change (acks, the sweeper's expiry, cancel, re-send)
is written to the database by whichever task makes it, so the stream reads the truth from one place
instead of every writer having to notify; a commune has a handful of browsers open and one small query
every half second per open page is cheap. An event is sent only when something changed; a comment
line every 15 s keeps proxies from closing an idle stream; the stream ends itself when the bulletin is
finished (event ``end``) or after an hour (the browser reconnects), and at HQ shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hq_server.routes.bulletins import BulletinIn, _bulletin_or_404, _create, bulletin_json
from hq_server.services.auth import Perm
from hq_server.storage.tables import Delivery, Node
from hq_server.ui import delivery_text as dt
from hq_server.ui.fmt import fmt_datetime, fmt_time
from hq_server.ui.villages import registry_names
from hq_server.web import DB, ApiError, Routes, json_response, parse_body
from loaxa_common.i18n import normalise_language, translations

logger = logging.getLogger(__name__)
routes = Routes()
FINISHED = frozenset({"completed", "cancelled", "expired", "failed"})
POLL_S = 0.5
KEEPALIVE_S = 15.0
MAX_STREAM_S = 3600.0
STREAM_STOP = web.AppKey("live_stream_stop", asyncio.Event)


def install(app: web.Application) -> None:
    """Open streams end at shutdown instead of holding HQ's stop for the shutdown timeout."""
    app[STREAM_STOP] = asyncio.Event()

    async def _stop(app: web.Application) -> None:
        app[STREAM_STOP].set()

    app.on_shutdown.append(_stop)


async def snapshot(session: AsyncSession, bulletin_id: str, lang: str) -> dict[str, Any]:
    """A bulletin's state and every loudspeaker's delivery, with labels in ``lang``."""
    _ = translations(lang).gettext
    b = await _bulletin_or_404(session, bulletin_id)
    ds = (await session.scalars(select(Delivery).where(Delivery.bulletin_id == b.id).order_by(Delivery.node_id))).all()
    nodes = {n.id: n for n in (await session.scalars(select(Node).where(Node.id.in_([d.node_id for d in ds])))).all()}
    names = await registry_names(session)
    summary: dict[str, int] = {}
    rows = []
    for d in ds:
        summary[d.state] = summary.get(d.state, 0) + 1
        zones = list(nodes[d.node_id].zones or []) if d.node_id in nodes else []
        rows.append({"node": d.node_id, "villages": [names.get(z, z) for z in zones], "state": d.state,
                     "state_text": dt.state_label(d.state, _), "tone": dt.STATE_TONE.get(d.state, "wait"),
                     "reason": d.reason, "reason_text": dt.reason_text(d.reason, _), "attempts": d.attempts,
                     "started_at": d.started_at.isoformat() if d.started_at else None,
                     "started_text": fmt_time(d.started_at), "ended_text": fmt_time(d.ended_at),
                     "duration_s": d.duration_s, "updated_text": fmt_datetime(d.updated_at)})
    return {"bulletin": {"id": b.id, "state": b.state, "state_text": dt.bulletin_state_label(b.state, _)},
            "deliveries": rows, "summary": summary,
            "failed": [r["node"] for r in rows if r["state"] in dt.FAILED_STATES],
            "done": b.state in FINISHED and all(r["tone"] in ("ok", "bad", "off") for r in rows)}


def _event(name: str, data: dict[str, Any]) -> bytes:
    return f"event: {name}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n".encode()


@routes.route("GET", "/api/v1/bulletins/{id}/events", perm=Perm.BULLETIN_READ,
              summary="Server-sent events: 'deliveries' (state of every loudspeaker, labels in ?lang= or the "
                      "language cookie) on every change, 'end' when the bulletin is finished")
async def events(request: web.Request) -> web.StreamResponse:
    bid = request.match_info["id"]
    lang = normalise_language(request.query.get("lang") or request.cookies.get("loaxa_lang"))
    db = request.app[DB]
    async with db.sessions() as s:
        first = await snapshot(s, bid, lang)  # 404 before the stream starts
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-store",
                                       "X-Accel-Buffering": "no"})
    await resp.prepare(request)
    stop = request.app.get(STREAM_STOP) or asyncio.Event()
    loop = asyncio.get_running_loop()
    started = last_write = loop.time()
    last: dict[str, Any] | None = None
    current = first
    try:
        while True:
            if current != last:
                await resp.write(_event("deliveries", current))
                last, last_write = current, loop.time()
            if current["done"]:
                await resp.write(_event("end", {"state": current["bulletin"]["state"]}))
                break
            if loop.time() - last_write > KEEPALIVE_S:
                await resp.write(b": keep-alive\n\n")
                last_write = loop.time()
            if loop.time() - started > MAX_STREAM_S:
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), POLL_S)
            if stop.is_set():
                break
            async with db.sessions() as s:
                current = await snapshot(s, bid, lang)
    except (ConnectionResetError, asyncio.CancelledError):
        logger.debug("event stream of %s closed by the client", bid)
        raise
    return resp


class ResendIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    nodes: list[str] | None = Field(default=None, max_length=2000,
                                    description="Loudspeakers to send to; default: every failed/expired/offline one")


@routes.route("POST", "/api/v1/bulletins/{id}/resend", perm=Perm.BULLETIN_WRITE, body=ResendIn,
              summary="Send a finished bulletin again, as a new bulletin, to the loudspeakers where it failed")
async def resend(request: web.Request) -> web.Response:
    body = await parse_body(request, ResendIn)
    async with request.app[DB].sessions() as s:
        b = await _bulletin_or_404(s, request.match_info["id"])
        ds = (await s.scalars(select(Delivery).where(Delivery.bulletin_id == b.id))).all()
    failed = sorted(d.node_id for d in ds if d.state in dt.FAILED_STATES)
    nodes = body.nodes if body.nodes is not None else failed
    if not nodes:
        raise ApiError(409, "Không có loa nào bị lỗi để gửi lại (no failed loudspeaker to send to)")
    not_failed = sorted(set(nodes) - set(failed))
    if not_failed:
        raise ApiError(400, "Chỉ gửi lại được cho loa bị lỗi (only failed loudspeakers)",
                       {"nodes": ", ".join(not_failed[:10])})
    original = bulletin_json(b)
    data = {k: original[k] for k in ("title", "kind", "text", "audio_sha256", "relay_url", "priority", "status",
                                     "repeat", "chime", "volume", "voice", "rate") if original[k] is not None}
    if b.kind == "relay":
        raise ApiError(409, "Không gửi lại được tiếp âm; hãy lên lịch mới (schedule a new relay instead)")
    data["targets"] = {"nodes": nodes}
    new = await _create(request, BulletinIn.model_validate(data))
    return json_response({"bulletin": bulletin_json(new), "resent_from": b.id, "nodes": nodes}, 201)

