"""The programme calendar: what is planned per day and village (bulletins, series, relays, windows)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from aiohttp import web
from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from hq_server.inputs import bounded_int
from hq_server.services import calendar as cal
from hq_server.services.auth import Perm
from hq_server.storage.tables import Bulletin, DesiredSetting, Node
from hq_server.web import DB, ApiError, Routes, json_response
from loaxa_contract.topics import valid_id

routes = Routes()
MAX_DAYS = 42


@dataclass
class Calendar:
    first: date
    last: date
    entries: list[cal.Entry]
    windows: list[cal.WindowEntry]
    node_zones: dict[str, list[str]]

    def for_zone(self, zone: str | None) -> Calendar:
        if not zone:
            return self
        nodes = {n for n, zs in self.node_zones.items() if zone in zs}
        return Calendar(self.first, self.last,
                        [e for e in self.entries if cal.covers_zone(e.targets, zone, self.node_zones)],
                        [w for w in self.windows if (w.scope == "zone" and w.ident == zone)
                         or (w.scope == "node" and w.ident in nodes)], self.node_zones)


async def load_calendar(session: AsyncSession, first: date, last: date) -> Calendar:
    lo = datetime.combine(first, datetime.min.time(), cal.TZ)
    hi = datetime.combine(last + timedelta(days=1), datetime.min.time(), cal.TZ)
    rows = (await session.scalars(select(Bulletin).where(
        Bulletin.state.in_(cal.SHOWN_STATES),
        or_(Bulletin.recurrence.is_not(None),
            Bulletin.send_at.between(lo, hi), Bulletin.play_at.between(lo, hi),
            Bulletin.created_at.between(lo, hi))))).all()
    entries = sorted((e for b in rows for e in cal.bulletin_entries(b, first, last)), key=lambda e: e.start)
    settings = (await session.scalars(select(DesiredSetting).where(DesiredSetting.kind == "programme"))).all()
    windows = [w for d in settings for w in cal.window_entries(d.scope, d.scope_id, d.value, first, last)]
    node_zones = {n.id: list(n.zones or []) for n in (await session.scalars(select(Node))).all()}
    return Calendar(first, last, entries, windows, node_zones)


def parse_range(query: Any, default_days: int = 7) -> tuple[date, date]:
    try:
        first = date.fromisoformat(query["from"]) if query.get("from") else datetime.now(cal.TZ).date()
    except ValueError as err:
        raise ApiError(400, "Ngày không hợp lệ (use YYYY-MM-DD)", {"from": "YYYY-MM-DD"}) from err
    days = bounded_int("days", query.get("days"), default_days, 1, MAX_DAYS)
    return first, first + timedelta(days=days - 1)


@routes.route("GET", "/api/v1/calendar", perm=Perm.BULLETIN_READ,
              summary="Planned plays per day: ?from=YYYY-MM-DD&days=7[&zone=ID] (bulletins, series, relays, "
                      "programme windows; local dates in Asia/Ho_Chi_Minh)")
async def calendar(request: web.Request) -> web.Response:
    first, last = parse_range(request.query)
    zone = request.query.get("zone")
    if zone is not None and not valid_id(zone):
        raise ApiError(400, "Mã thôn không hợp lệ (invalid zone id)", {"zone": "a-z, 0-9, '-', '_'"})
    async with request.app[DB].sessions() as s:
        c = (await load_calendar(s, first, last)).for_zone(zone)
    return json_response({
        "from": first.isoformat(), "to": last.isoformat(), "zone": zone,
        "entries": [{"bulletin": e.bulletin_id, "title": e.title, "kind": e.kind, "priority": e.priority,
                     "state": e.state, "start": e.start.isoformat(), "end": e.end.isoformat() if e.end else None,
                     "recurring": e.recurring, "targets": e.targets} for e in c.entries],
        "windows": [{"scope": w.scope, "id": w.ident, "date": w.day.isoformat(), "start": w.start, "end": w.end}
                    for w in c.windows]})
