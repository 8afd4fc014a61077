"""The administrator's pages: users and roles, API tokens, the audit log, broadcast statistics, settings.

Lists are rendered from HQ's records; every change goes through the JSON API (same checks, same audit).
The statistics page draws the report API's JSON and links its CSV with the same filters, so what a
commune sends upward is exactly what it saw.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from sqlalchemy import select

from hq_server.routes.hq_settings import current
from hq_server.routes.records import audit_query
from hq_server.services.auth import Perm, Role
from hq_server.storage.tables import ApiToken, AuditEntry, User
from hq_server.ui import audit_text, voice_text
from hq_server.ui.fmt import TZ, Gettext
from hq_server.ui.render import ROLE_NAMES, gettext_for, page
from hq_server.ui.villages import zone_names
from hq_server.web import DB, Routes, principal, query_int

routes = Routes()
AUDIT_PAGE = 200


def _(s: str) -> str:  # extraction marker
    return s


def _admin_msgs(_: Gettext) -> dict[str, str]:
    return {"failed": _("Not done: %(why)s"), "check_fields": _("Please correct the fields marked in red."),
            "saved": _("Saved."), "created": _("Account %(name)s created."),
            "need_username": _("User name: 2 to 64 letters, digits or . _ @ -"),
            "short_password": _("At least 10 characters."),
            "deactivate_confirm": _("Deactivate %(name)s? Their sessions end and their API tokens stop working."),
            "reset_done": _("Password of %(name)s changed; their browser sessions ended."),
            "role_confirm": _("Make %(name)s a %(role)s? Their rights change at once (the pages and actions of "
                              "that role only)."),
            "role_done": _("%(name)s is now: %(role)s."),
            "token_once": _("Copy this token now: it is shown only once."),
            "revoke_confirm": _("Revoke this token? Scripts using it will stop working."),
            "need_engine": _("Choose at least one voice."), "need_window": _("Each window needs a start, an end and "
                                                                            "at least one day."),
            "applied": _("Sent to %(n)s loudspeaker(s)."),
            "plays": _("Plays"), "minutes": _("Minutes played"), "uptime": _("Online (%)")}


def _users_context(users: list[User], tokens: dict[int, list[ApiToken]], _: Gettext) -> dict[str, Any]:
    return {"users": users, "tokens": tokens, "roles": [(r.value, _(ROLE_NAMES[r.value])) for r in Role],
            "role_names": {k: _(v) for k, v in ROLE_NAMES.items()}}


@routes.route("GET", "/users", perm=Perm.USER_ADMIN, html=True,
              summary="Users and roles: create, change a role, deactivate, reset a password")
async def users_page(request: web.Request) -> web.StreamResponse:
    _ = gettext_for(request)
    async with request.app[DB].sessions() as s:
        users = list((await s.scalars(select(User).order_by(User.username))).all())
    return await page(request, "users.html", {**_users_context(users, {}, _), "me": principal(request).user_id,
                                              "js_msgs": _admin_msgs(_)})


@routes.route("GET", "/tokens", perm=Perm.USER_ADMIN, html=True,
              summary="API tokens: your own (create, revoke) and every user's (list, revoke)")
async def tokens_page(request: web.Request) -> web.StreamResponse:
    _ = gettext_for(request)
    async with request.app[DB].sessions() as s:
        users = list((await s.scalars(select(User).order_by(User.username))).all())
        rows = (await s.scalars(select(ApiToken).order_by(ApiToken.created_at.desc()))).all()
    tokens: dict[int, list[ApiToken]] = {}
    for t in rows:
        tokens.setdefault(t.user_id, []).append(t)
    return await page(request, "tokens.html", {**_users_context(users, tokens, _), "me": principal(request).user_id,
                                               "js_msgs": _admin_msgs(_)})


def _day(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


@routes.route("GET", "/audit", perm=Perm.AUDIT_READ, html=True,
              summary="Audit log with filters (user, outcome, dates) and search; CSV of what is shown")
async def audit_page(request: web.Request) -> web.StreamResponse:
    _ = gettext_for(request)
    q = request.query
    first, last = _day(q.get("from")), _day(q.get("to"))
    outcome = q.get("outcome", "") if q.get("outcome", "") in ("ok", "refused", "error") else ""
    f = {"user": q.get("user", ""), "q": q.get("q", ""), "outcome": outcome,
         "from": first.isoformat() if first else "", "to": last.isoformat() if last else ""}
    until = (last + timedelta(days=1)).isoformat() if last else ""  # the API's "to" is exclusive
    wanted = {"user": f["user"], "q": f["q"], "outcome": outcome, "from": f["from"], "to": until}
    api = {k: v for k, v in wanted.items() if v}
    limit = query_int(request, "limit", AUDIT_PAGE, 1, 5000)
    query = request.clone(rel_url=request.rel_url.with_query(api))
    async with request.app[DB].sessions() as s:
        rows = (await s.scalars(audit_query(query).limit(limit))).all()
        users = sorted(set((await s.scalars(select(AuditEntry.username).distinct())).all()) - {""})
    routes_of = audit_text.routes_by_summary(request.app)
    return await page(request, "audit.html", {
        "rows": rows, "f": f, "users": users, "limit": limit,
        "labels": {e.id: audit_text.action_label(e.action, routes_of, _) for e in rows},
        "csv": "/api/v1/audit?" + urlencode({**api, "limit": 5000, "format": "csv"}), "js_msgs": _admin_msgs(_)})


def _stats_words(_: Gettext) -> dict[str, str]:
    """Column titles of the report tables (the CSV keeps the API's own column names)."""
    return {"day": _("Day"), "zone": _("Village"), "node": _("Loudspeaker"), "bulletin": _("Bulletin"),
            "title": _("Title"), "bulletins": _("Bulletins"), "plays": _("Plays"),
            "seconds_played": _("Seconds played"), "minutes_played": _("Minutes played"), "failures": _("Failures"),
            "uptime_percent": _("Online (%)"), "online_s": _("Online (s)"), "offline_s": _("Offline (s)"),
            "disconnects": _("Disconnects"), "reconnects": _("Reconnects"), "reboots": _("Restarts"),
            "last_disconnect": _("Last disconnect"), "last_reconnect": _("Last reconnect"),
            "cpu_temp_c": _("Temperature (°C)"), "audio_device_ok": _("Sound card works"),
            "delivery_failures": _("Delivery failures"), "problems": _("Problems"), "zones": _("Villages"),
            "state": _("State"), "empty": _("Nothing in this period.")}


@routes.route("GET", "/statistics", perm=Perm.REPORT_READ, html=True,
              summary="Broadcast statistics (per day, village, loudspeaker, bulletin), availability, device condition")
async def statistics_page(request: web.Request) -> web.StreamResponse:
    _ = gettext_for(request)
    today = datetime.now(TZ).date()
    first = _day(request.query.get("from")) or today - timedelta(days=29)
    last = _day(request.query.get("to")) or today
    if last < first:
        first, last = last, first
    period = {"from": first.isoformat(), "to": (last + timedelta(days=1)).isoformat()}
    async with request.app[DB].sessions() as s:
        names = await zone_names(s)
    return await page(request, "statistics.html", {"zone_names": names, "words": _stats_words(_),
        "first": first, "last": last, "period": period, "query": urlencode(period),
        "groups": [("day", _("Per day")), ("zone", _("Per village")), ("node", _("Per loudspeaker")),
                   ("bulletin", _("Per bulletin"))], "js_msgs": _admin_msgs(_)})


@routes.route("GET", "/settings", perm=Perm.USER_ADMIN, html=True,
              summary="Settings operators change: alert webhook, voice order, default programme windows")
async def settings_page(request: web.Request) -> web.StreamResponse:
    _ = gettext_for(request)
    words = {**{k: v for k, v in voice_text.ENGINE_NAMES.items() if k != "recording"}, "up": _("Up"),
             "down": _("Down"), "use": _("use"), "robotic": _("robotic, without Internet"),
             "unavailable": _("not set up on this HQ")}
    return await page(request, "settings.html", {"current": await current(request.app), "engine_words": words,
                                                 "js_msgs": _admin_msgs(_)})
