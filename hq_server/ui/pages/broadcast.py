"""The broadcaster's pages: today, compose, relay, live delivery of one bulletin, emergency approvals.

Pages are rendered from HQ's records; every change goes through the JSON API from the page's script
(same session, CSRF header, audit), so the web UI has no second, divergent way of creating a bulletin.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aiohttp import web
from sqlalchemy import select

from hq_server.routes.bulletins import EDITABLE, bulletin_json
from hq_server.routes.calendar import load_calendar
from hq_server.routes.live import snapshot
from hq_server.services.auth import Perm, allowed
from hq_server.services.lifecycle import CANCELLABLE
from hq_server.storage.tables import Bulletin, Delivery, Node, Occurrence
from hq_server.ui import delivery_text as dt
from hq_server.ui import villages as vl
from hq_server.ui import voice_text
from hq_server.ui.fmt import TZ, Gettext, duration_text, local
from hq_server.ui.pages.common import priority_label, targets_text
from hq_server.ui.render import gettext_for, page, request_language
from hq_server.web import CONFIG, DB, ApiError, Routes, principal

routes = Routes()
NATURAL_WPM = 140
"""Reading-time estimate when HQ leaves the pace to each voice (espeak-ng's natural pace; speakers read ~130-150)."""


async def today(request: web.Request) -> web.StreamResponse:
    _ = gettext_for(request)
    now_local = datetime.now(TZ)
    async with request.app[DB].sessions() as s:
        villages = await vl.load(s)
        nodes = (await s.scalars(select(Node).where(Node.kind != "camera").order_by(Node.id))).all()
        cal = await load_calendar(s, now_local.date(), now_local.date())
        recent = (await s.scalars(select(Bulletin).order_by(Bulletin.created_at.desc()).limit(8))).all()
        summaries = {}
        for b in recent:
            ds = (await s.scalars(select(Delivery.state).where(Delivery.bulletin_id == b.id))).all()
            summaries[b.id] = _summary(list(ds), _)
    names = vl.names(villages)
    plan = [{"time": local(e.start).strftime("%H:%M"), "title": e.title or _("(untitled)"), "id": e.bulletin_id,
             "where": targets_text(e.targets, names, _), "kind": e.kind, "recurring": e.recurring,
             "priority": e.priority, "done": local(e.start) < now_local} for e in cal.entries]
    windows = sorted({(w.start, w.end, names.get(w.ident, w.ident)) for w in cal.windows})
    return await page(request, "today.html", {
        "villages": villages, "offline": [n for n in nodes if n.state != "online"],
        "online": sum(n.state == "online" for n in nodes), "total": len(nodes), "plan": plan, "windows": windows,
        "recent": [{"b": b, "where": targets_text(b.targets or {}, names, _), "summary": summaries[b.id],
                    "state": dt.bulletin_state_label(b.state, _), "priority": priority_label(b.priority, _)}
                   for b in recent],
        "today": now_local})


def _summary(states: list[str], _: Gettext) -> dict[str, Any]:
    played = sum(s == "played" for s in states)
    failed = sum(s in dt.FAILED_STATES for s in states)
    return {"total": len(states), "played": played, "failed": failed,
            "text": _("%(played)s of %(total)s played") % {"played": played, "total": len(states)}}


def _compose_msgs(_: Gettext) -> dict[str, str]:
    return {
        "chars": _("%(n)s characters"), "reading": _("about %(t)s to read"), "sec": _("%(s)s s"),
        "min": _("%(m)s min %(s)s s"), "need_text": _("Write the text of the bulletin."),
        "need_audio": _("Record or upload the audio first."), "need_village": _("Choose at least one village."),
        "need_node": _("Choose at least one loudspeaker."), "need_time": _("Choose the date and time."),
        "past": _("This time has already passed. Choose a later time."),
        "need_days": _("Choose at least one day of the week."),
        "need_month_days": _("Enter the days of the month, e.g. 1, 15."),
        "need_end": _("Choose the last date of the repeat."),
        "end_before": _("The last date is before the first date."),
        "no_match": _("No village is called “%(q)s”."), "did_you_mean": _("Did you mean: %(names)s?"),
        "no_village_list": _("Choose from the list below."),
        "robotic": _("Robotic voice: the natural voice could not be reached, so the offline machine voice read "
                     "this. It is hard to understand; check the Internet connection or record your voice."),
        "natural": _("Voice: %(engine)s"), "rendering": _("Preparing the voice…"),
        "send_now": _("Send now"), "schedule": _("Schedule"), "save": _("Save changes"),
        "sending": _("Sending…"), "recording": _("Recording… press Stop when you are done."),
        "mic_denied": _("The browser cannot use the microphone. Allow it, or upload a file instead."),
        "uploaded": _("Audio ready (%(s)s s)."), "upload_failed": _("The audio could not be stored: %(why)s"),
        "failed": _("Not sent: %(why)s"), "check_fields": _("Please correct the fields marked in red."),
        **voice_text.js_messages(_),
        "emergency_confirm": _("This emergency bulletin will play AT ONCE on %(n)s loudspeaker(s) (%(where)s), "
                               "interrupting whatever is playing, even during quiet hours."),
    }


async def _compose_context(request: web.Request, edit: Bulletin | None) -> dict[str, Any]:
    _ = gettext_for(request)
    cfg = request.app[CONFIG]
    async with request.app[DB].sessions() as s:
        villages = await vl.load(s)
    return {"villages": villages, "edit": bulletin_json(edit) if edit else None, "js_msgs": _compose_msgs(_),
            "total_nodes": sum(len(v.nodes) for v in villages),
            "rate_wpm": cfg.bulletins.tts_rate_wpm or NATURAL_WPM, "two_person": cfg.bulletins.emergency_two_person,
            "today_iso": datetime.now(TZ).date().isoformat(),
            "edit_local": _edit_local(edit) if edit else {}}


def _edit_local(b: Bulletin) -> dict[str, str]:
    when = b.send_at.astimezone(TZ) if b.send_at else None
    return {"date": when.date().isoformat() if when else "", "time": when.strftime("%H:%M") if when else ""}


@routes.route("GET", "/compose", perm=Perm.BULLETIN_WRITE, html=True, summary="Compose a bulletin (?edit=ID)")
async def compose(request: web.Request) -> web.StreamResponse:
    edit = None
    if bid := request.query.get("edit"):
        async with request.app[DB].sessions() as s:
            edit = await s.get(Bulletin, bid)
        if edit is None:
            raise ApiError(404, gettext_for(request)("This bulletin does not exist."))
        if edit.state not in EDITABLE:
            raise ApiError(409, gettext_for(request)("This bulletin has already been sent and cannot be edited."))
    return await page(request, "compose.html", await _compose_context(request, edit))


@routes.route("GET", "/relay", perm=Perm.BULLETIN_WRITE, html=True, summary="Schedule a relay (tiếp âm)")
async def relay(request: web.Request) -> web.StreamResponse:
    _ = gettext_for(request)
    async with request.app[DB].sessions() as s:
        villages = await vl.load(s)
    return await page(request, "relay.html", {"villages": villages, "today_iso": datetime.now(TZ).date().isoformat(),
                                              "total_nodes": sum(len(v.nodes) for v in villages),
                                              "target_mode": "zones", "chosen_zones": [], "chosen_nodes": [],
                                              "js_msgs": {**_compose_msgs(_), **{
        "need_url": _("Enter the address of the radio stream (starts with http:// or https://)."),
        "end_after": _("The end time must be after the start time."),
        "need_dates": _("No day in this period matches the chosen days."),
        "too_many": _("At most %(n)s sessions at once; shorten the period."),
        "done": _("%(n)s relay session(s) scheduled."), "partial": _("%(ok)s of %(n)s scheduled; stopped: %(why)s")}}})


@routes.route("GET", "/bulletins/{id}", perm=Perm.BULLETIN_READ, html=True,
              summary="A bulletin and its live per-loudspeaker delivery")
async def bulletin_page(request: web.Request) -> web.StreamResponse:
    _ = gettext_for(request)
    p = principal(request)
    async with request.app[DB].sessions() as s:
        b = await s.get(Bulletin, request.match_info["id"])
        if b is None:
            raise ApiError(404, _("This bulletin does not exist."))
        snap = await snapshot(s, b.id, request_language(request))
        names = vl.names(await vl.load(s))
        occ = (await s.scalars(select(Occurrence).where(Occurrence.bulletin_id == b.id)
                               .order_by(Occurrence.occurrence.desc(), Occurrence.node_id).limit(500))).all()
    return await page(request, "bulletin.html", {
        "b": b, "snap": snap, "where": targets_text(b.targets or {}, names, _),
        "priority": priority_label(b.priority, _), "duration": duration_text(b.audio_duration_s, _),
        "can_edit": allowed(p.role, Perm.BULLETIN_WRITE) and b.state in EDITABLE,
        "can_cancel": allowed(p.role, Perm.BULLETIN_WRITE) and b.state in CANCELLABLE,
        "can_resend": allowed(p.role, Perm.BULLETIN_WRITE),
        "can_approve": allowed(p.role, Perm.BULLETIN_APPROVE) and b.state == "awaiting_approval",
        "voice": voice_text.voice_label(b.speech_engine, b.speech_voice, b.speech_quality, _)
        if b.speech_quality else "", "voice_tone": voice_text.QUALITY_TONE.get(b.speech_quality or "", ""),
        "own": b.author == p.username, "occurrences": occ, "recurrence": _recurrence_text(b.recurrence, _, request),
        "state_labels": {k: _(v) for k, v in dt.STATE_LABELS.items()},
        "js_msgs": {"cancel_confirm": _("Stop this bulletin on every loudspeaker that has not finished it?"),
                    "resend_done": _("Sent again to %(n)s loudspeaker(s)."), "failed": _("Not done: %(why)s"),
                    "approved": _("Approved; the bulletin is being sent."), "live_lost": _("Live updates paused; "
                    "reconnecting…"), "finished": _("Finished: the list will not change any more."),
                    "played_between": _("played %(a)s–%(b)s"),
                    "summary": _("%(played)s of %(total)s loudspeakers played"), "n_failed": _("%(n)s failed")}})


def _recurrence_text(rec: dict[str, Any] | None, _: Gettext, request: web.Request) -> str:
    if not rec:
        return ""
    from hq_server.ui.fmt import fmt_date, weekday_names

    at = rec["at"][:5]
    span = ""
    if rec.get("start_date") or rec.get("end_date"):
        first = fmt_date(datetime.fromisoformat(rec["start_date"]).date()) if rec.get("start_date") else ""
        last = fmt_date(datetime.fromisoformat(rec["end_date"]).date()) if rec.get("end_date") else ""
        span = " " + _("from %(a)s to %(b)s") % {"a": first, "b": last}
    if rec["kind"] == "daily":
        return _("Every day at %(at)s") % {"at": at} + span
    if rec["kind"] == "weekly":
        days = ", ".join(weekday_names(_)[d] for d in sorted(rec.get("weekdays") or []))
        return _("Every week on %(days)s at %(at)s") % {"days": days, "at": at} + span
    if rec["kind"] == "monthly":
        days = ", ".join(str(d) for d in sorted(rec.get("month_days") or []))
        return _("Every month on day %(days)s at %(at)s") % {"days": days, "at": at} + span
    return _("Once at %(at)s") % {"at": at} + span


@routes.route("GET", "/approvals", perm=Perm.BULLETIN_APPROVE, html=True,
              summary="Emergency bulletins waiting for a second person's approval")
async def approvals(request: web.Request) -> web.StreamResponse:
    _ = gettext_for(request)
    async with request.app[DB].sessions() as s:
        rows = (await s.scalars(select(Bulletin).where(Bulletin.state == "awaiting_approval")
                                .order_by(Bulletin.created_at))).all()
        villages = await vl.load(s)
    names = vl.names(villages)
    counts = {v.id: len(v.nodes) for v in villages}
    items = []
    for b in rows:
        t = b.targets or {}
        n = sum(len(v.nodes) for v in villages) if t.get("all") else sum(counts.get(z, 0) for z in t.get("zones") or [])
        items.append({"b": b, "where": targets_text(t, names, _), "nodes": n + len(t.get("nodes") or [])})
    return await page(request, "approvals.html", {"items": items, "me": principal(request).username, "js_msgs": {
        "approve_confirm": _("Approve and send this emergency bulletin now?"), "failed": _("Not done: %(why)s")}})

