"""Calendar (a week of the programme by village) and history (filters, per-node proof of play)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from aiohttp import web
from sqlalchemy import select

from hq_server.routes.calendar import load_calendar
from hq_server.services.auth import Perm
from hq_server.services.calendar import covers_zone
from hq_server.storage.tables import Bulletin, Delivery, Node
from hq_server.ui import delivery_text as dt
from hq_server.ui import villages as vl
from hq_server.ui.fmt import TZ, fmt_date, local
from hq_server.ui.pages.common import priority_label, targets_text
from hq_server.ui.render import gettext_for, page
from hq_server.web import DB, Routes

routes = Routes()
HISTORY_LIMIT = 200


def _monday(value: str | None) -> date:
    try:
        d = date.fromisoformat(value) if value else datetime.now(TZ).date()
    except ValueError:
        d = datetime.now(TZ).date()
    return d - timedelta(days=d.weekday())


@routes.route("GET", "/calendar", perm=Perm.BULLETIN_READ, html=True,
              summary="Week calendar by village (?week=YYYY-MM-DD&village=ID)")
async def calendar_page(request: web.Request) -> web.StreamResponse:
    _ = gettext_for(request)
    monday = _monday(request.query.get("week"))
    village = request.query.get("village") or ""
    async with request.app[DB].sessions() as s:
        villages = await vl.load(s)
        cal = await load_calendar(s, monday, monday + timedelta(days=6))
    if village and village not in {v.id for v in villages}:
        village = ""
    cal = cal.for_zone(village or None)
    names = vl.names(villages)
    today = datetime.now(TZ).date()
    days: list[dict[str, Any]] = []
    for i in range(7):
        d = monday + timedelta(days=i)
        items = [{"time": local(e.start).strftime("%H:%M"),
                  "end": local(e.end).strftime("%H:%M") if e.end and e.kind == "relay" else "",
                  "title": e.title or _("(untitled)"), "id": e.bulletin_id, "kind": e.kind,
                  "recurring": e.recurring, "priority": e.priority, "state": e.state,
                  "where": targets_text(e.targets, names, _)}
                 for e in cal.entries if local(e.start).date() == d]
        wins = sorted({(w.start, w.end, names.get(w.ident, w.ident)) for w in cal.windows if w.day == d})
        days.append({"date": d, "label": fmt_date(d), "weekday": i, "events": items, "windows": wins,
                     "today": d == today})
    return await page(request, "calendar.html", {
        "days": days, "villages": villages, "village": village, "monday": monday,
        "prev": (monday - timedelta(days=7)).isoformat(), "next": (monday + timedelta(days=7)).isoformat(),
        "this_week": _monday(None).isoformat(), "range": f"{fmt_date(monday)} – {fmt_date(monday + timedelta(days=6))}",
        "node_zones": cal.node_zones})


def _parse_day(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


@routes.route("GET", "/history", perm=Perm.BULLETIN_READ, html=True,
              summary="Bulletins with filters (?from=&to=&village=&state=&author=) and delivery results")
async def history(request: web.Request) -> web.StreamResponse:
    _ = gettext_for(request)
    q = request.query
    first, last = _parse_day(q.get("from")), _parse_day(q.get("to"))
    village, state, author = q.get("village", ""), q.get("state", ""), q.get("author", "")
    stmt = select(Bulletin).order_by(Bulletin.created_at.desc())
    if first:
        stmt = stmt.where(Bulletin.created_at >= datetime.combine(first, datetime.min.time(), TZ))
    if last:
        stmt = stmt.where(Bulletin.created_at < datetime.combine(last + timedelta(days=1), datetime.min.time(), TZ))
    if state:
        stmt = stmt.where(Bulletin.state == state)
    if author:
        stmt = stmt.where(Bulletin.author == author)
    async with request.app[DB].sessions() as s:
        villages = await vl.load(s)
        authors = sorted(set((await s.scalars(select(Bulletin.author).distinct())).all()))
        node_zones = {n.id: list(n.zones or []) for n in (await s.scalars(select(Node))).all()}
        rows = [b for b in (await s.scalars(stmt.limit(HISTORY_LIMIT * 5))).all()
                if not village or covers_zone(b.targets or {}, village, node_zones)][:HISTORY_LIMIT]
        states: dict[str, list[str]] = {}
        if rows:
            for bid, st in (await s.execute(select(Delivery.bulletin_id, Delivery.state).where(
                    Delivery.bulletin_id.in_([b.id for b in rows])))).all():
                states.setdefault(bid, []).append(st)
    names = vl.names(villages)
    items = []
    for b in rows:
        sts = states.get(b.id, [])
        items.append({"b": b, "where": targets_text(b.targets or {}, names, _),
                      "priority": priority_label(b.priority, _),
                      "state": dt.bulletin_state_label(b.state, _), "played": sum(x == "played" for x in sts),
                      "failed": sum(x in dt.FAILED_STATES for x in sts), "total": len(sts)})
    return await page(request, "history.html", {
        "items": items, "villages": villages, "authors": authors,
        "states": [(k, _(v)) for k, v in dt.BULLETIN_STATES.items()],
        "f": {"from": first.isoformat() if first else "", "to": last.isoformat() if last else "",
              "village": village, "state": state, "author": author}, "limit": HISTORY_LIMIT})
