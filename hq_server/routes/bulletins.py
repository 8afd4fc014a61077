"""Bulletins: create, list, read, edit before sending, cancel, approve, per-node delivery."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hq_server.inputs import ApiInstant, calendar_date
from hq_server.services.audio import AudioError, SpeechInputError
from hq_server.services.auth import Perm
from hq_server.services.bulletin_rules import LifetimeRules, lifetime
from hq_server.services.cap import MAX_CAP_BYTES, CapError, cap_to_bulletin
from hq_server.services.occurrences import occurrence_json
from hq_server.services.speech_record import record as record_speech
from hq_server.services.speech_record import speech_json, voice_warning
from hq_server.services.targets import resolve_targets
from hq_server.storage.tables import Bulletin, Delivery, Occurrence, Zone, now
from hq_server.web import (
    AUDIO,
    AUDIT_DETAIL,
    CONFIG,
    DB,
    ORCH,
    ApiError,
    Routes,
    json_response,
    parse_json,
    principal,
    query_int,
    read_capped,
)
from loaxa_contract.limits import MAX_TEXT_CHARS
from loaxa_contract.models import Priority, Recurrence
from loaxa_contract.topics import valid_id
from loaxa_speech.tts.summary import HUMAN

routes = Routes()
EDITABLE = ("awaiting_approval", "scheduled")


class Targets(BaseModel):
    model_config = ConfigDict(extra="forbid")
    all: bool = False
    zones: list[Annotated[str, Field(min_length=1, max_length=100)]] = Field(
        default_factory=list, max_length=200, description="Zone slugs or names ('thon-1' or 'Thôn 1')")
    nodes: list[str] = Field(default_factory=list, max_length=2000)

    @model_validator(mode="after")
    def _check(self) -> Targets:
        bad = [x for x in self.nodes if not valid_id(x)]
        if bad:
            raise ValueError(f"không hợp lệ (invalid ids): {', '.join(bad[:5])}")
        if not (self.all or self.zones or self.nodes):
            raise ValueError("chọn ít nhất một đích: all, zones hoặc nodes (choose at least one target)")
        return self


class BulletinIn(BaseModel):
    """What an operator submits; cross-field rules give field-level errors."""

    model_config = ConfigDict(extra="forbid")
    title: str = Field(default="", max_length=200)
    kind: Literal["text", "audio", "relay"] = "text"
    text: str = Field(default="", max_length=MAX_TEXT_CHARS)
    audio_sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    relay_url: str | None = Field(default=None, max_length=2048, pattern=r"^(https?|rtsp|rtmp)://")
    relay_end_at: ApiInstant | None = None
    priority: Priority = Priority.NORMAL
    status: Literal["actual", "test"] = "actual"
    targets: Targets
    send_at: ApiInstant | None = Field(default=None, description="None = now; naive = Asia/Ho_Chi_Minh")
    recurrence: Recurrence | None = None
    repeat: int = Field(default=1, ge=1, le=10)
    chime: bool = False
    volume: int | None = Field(default=None, ge=0, le=100)
    voice: str | None = Field(default=None, max_length=64)
    rate: int | None = Field(default=None, ge=80, le=300)
    expires_at: ApiInstant | None = Field(
        default=None, description="Default: send time + command_ttl_s; a recurring series: its last occurrence + "
                                  "command_ttl_s, or (no end_date) renewed by HQ until cancelled")

    @model_validator(mode="after")
    def _content(self) -> BulletinIn:
        if self.kind == "text" and not self.text.strip():
            raise _field("text", "Nội dung bản tin trống (text is required for a text bulletin)")
        if self.kind == "audio" and not self.audio_sha256:
            raise _field("audio_sha256", "Cần tải tệp âm thanh lên trước (upload audio first)")
        if self.kind == "relay" and not (self.relay_url and self.relay_end_at):
            raise _field("relay_url", "Cần relay_url và relay_end_at (relay needs a URL and an end time)")
        for name in ("start_date", "end_date"):
            value = getattr(self.recurrence, name) if self.recurrence else None
            if value is not None:
                try:
                    calendar_date(value)
                except ValueError as err:
                    raise _field(f"recurrence.{name}", str(err)) from err
        start = self.send_at or now()
        if self.expires_at is not None and self.expires_at <= max(start, now()):
            raise _field("expires_at", "Thời hạn phải sau thời điểm phát (expiry must be after the send time)")
        return self


class FieldError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def _field(name: str, message: str) -> FieldError:
    return FieldError(name, message)


def bulletin_json(b: Bulletin, deliveries: list[Delivery] | None = None) -> dict[str, Any]:
    out = {c: getattr(b, c) for c in ("id", "title", "kind", "text", "audio_sha256", "audio_duration_s", "relay_url",
                                      "priority", "status", "targets", "recurrence", "repeat", "chime", "volume",
                                      "voice", "rate", "state", "author", "approved_by", "cancelled_by",
                                      "cap_identifier", "cap_sender", "state_reason")}
    for c in ("relay_end_at", "send_at", "expires_at", "created_at", "updated_at", "sent_at", "play_at", "renew_at",
              "renewed_at"):
        v = getattr(b, c)
        out[c] = v.isoformat() if v else None
    out["speech"], out["voice_warning"] = speech_json(b), voice_warning(b)
    if deliveries is not None:
        counts: dict[str, int] = {}
        for d in deliveries:
            counts[d.state] = counts.get(d.state, 0) + 1
        out["delivery_summary"] = counts
    return out


def delivery_json(d: Delivery) -> dict[str, Any]:
    return {"node": d.node_id, "state": d.state, "reason": d.reason, "command_id": d.command_id,
            "attempts": d.attempts, "updated_at": d.updated_at.isoformat(),
            "last_sent_at": d.last_sent_at.isoformat() if d.last_sent_at else None,
            "started_at": d.started_at.isoformat() if d.started_at else None,
            "ended_at": d.ended_at.isoformat() if d.ended_at else None, "duration_s": d.duration_s}


async def _validated(request: web.Request, data: dict[str, Any]) -> BulletinIn:
    try:
        return BulletinIn.model_validate(data)
    except ValueError as err:  # pydantic wraps FieldError in ValidationError; unwrap it for a precise field
        cause = getattr(err, "errors", None)
        if cause:
            for e in err.errors(include_url=False):  # type: ignore[attr-defined]
                ctx = e.get("ctx", {}).get("error")
                if isinstance(ctx, FieldError):
                    raise ApiError(400, "Dữ liệu không hợp lệ (invalid input)", {ctx.field: str(ctx)}) from err
        raise


async def _apply(request: web.Request, b: Bulletin, body: BulletinIn, render: bool) -> None:
    cfg = request.app[CONFIG]
    b.title, b.kind, b.text, b.priority, b.status = body.title, body.kind, body.text, body.priority.value, body.status
    async with request.app[DB].sessions() as s:
        targets = await resolve_targets(s, body.targets.model_dump())
    b.relay_url, b.relay_end_at, b.targets = body.relay_url, body.relay_end_at, targets
    b.send_at, b.recurrence = body.send_at, body.recurrence.model_dump(mode="json") if body.recurrence else None
    b.repeat, b.chime, b.volume, b.voice, b.rate = body.repeat, body.chime, body.volume, body.voice, body.rate
    life = lifetime(LifetimeRules.from_config(cfg.command_ttl_s, cfg.bulletins), max(body.send_at or now(), now()),
                    body.recurrence, body.expires_at)
    b.expires_at, b.renew_at = life.expires_at, life.renew_at
    b.updated_at = now()
    store = request.app[AUDIO]
    if body.kind == "audio":
        assert body.audio_sha256
        path = store.find(body.audio_sha256)
        if path is None:
            raise ApiError(400, "Không tìm thấy tệp âm thanh (unknown audio)", {"audio_sha256": "not uploaded"})
        try:  # what goes out: silence trimmed, loudness normalised like the TTS output
            rendition = await store.broadcast_recording(body.audio_sha256)
        except AudioError as err:
            raise ApiError(400, str(err), {"audio_sha256": str(err)}) from err
        b.audio_sha256, b.audio_duration_s = rendition.sha256, rendition.duration_s
        record_speech(b, HUMAN)
    elif body.kind == "text" and render:
        try:
            rendering = await store.render(body.text, body.voice, body.rate)
        except SpeechInputError as err:  # the operator's mistake, not a failing engine
            raise ApiError(400, str(err), {err.field: str(err)}) from err
        except AudioError as err:
            raise ApiError(502, f"Không tạo được giọng đọc (speech rendering failed): {err}") from err
        b.audio_sha256, b.audio_duration_s = rendering.audio.sha256, rendering.audio.duration_s
        record_speech(b, rendering.speech)
    elif body.kind == "relay":
        b.audio_sha256 = None
        record_speech(b, None)


async def _send_if_due(request: web.Request, b: Bulletin) -> None:
    if b.state == "scheduled" and (b.send_at is None or b.send_at <= now()):
        await request.app[ORCH].dispatch(b.id)


@routes.route("POST", "/api/v1/bulletins", perm=Perm.BULLETIN_WRITE, summary="Create a bulletin", body=BulletinIn)
async def create(request: web.Request) -> web.Response:
    body = await _validated(request, await parse_json(request))
    b = await _create(request, body)
    return await _read(request, b.id, 201)


async def _create(request: web.Request, body: BulletinIn, **extra: Any) -> Bulletin:
    """The one creation path (API and CAP import): render, approval rule, store, audit detail, send if due."""
    p = principal(request)
    cfg = request.app[CONFIG]
    b = Bulletin(id=uuid.uuid4().hex[:12], author=p.username, created_at=now(), **extra)
    await _apply(request, b, body, render=True)
    two_person = cfg.bulletins.emergency_two_person and body.priority == Priority.EMERGENCY
    b.state = "awaiting_approval" if two_person else "scheduled"
    async with request.app[DB].sessions() as s:
        s.add(b)
        await s.commit()
    request[AUDIT_DETAIL] = {"bulletin": b.id, "priority": b.priority, "targets": b.targets,
                               "text": b.text[:80]}
    await _send_if_due(request, b)
    return b


CAP_TYPES = ("application/cap+xml", "application/xml", "text/xml")


async def _known_zones(request: web.Request) -> set[str]:
    async with request.app[DB].sessions() as s:
        return set((await s.scalars(select(Zone.slug))).all())


async def _cap_referenced(request: web.Request, refs: list[tuple[str, str]]) -> list[Bulletin]:
    async with request.app[DB].sessions() as s:
        rows = (await s.scalars(select(Bulletin).where(Bulletin.cap_identifier.in_([i for _, i in refs])))).all()
    wanted = set(refs)
    return [b for b in rows if (b.cap_sender, b.cap_identifier) in wanted]


@routes.route("POST", "/api/v1/bulletins/cap", perm=Perm.BULLETIN_WRITE,
              summary="Import a CAP 1.2 alert (application/cap+xml; ?targets=all sends everywhere)")
async def import_cap(request: web.Request) -> web.Response:
    if request.content_type not in CAP_TYPES:
        raise ApiError(415, f"Cần Content-Type {' hoặc '.join(CAP_TYPES[:2])} (a CAP 1.2 XML document is expected)")
    override = request.query.get("targets")
    if override not in (None, "all"):
        raise ApiError(400, "Chỉ hỗ trợ ?targets=all (only ?targets=all is supported)", {"targets": "must be all"})
    data = await read_capped(request, MAX_CAP_BYTES, "Tài liệu CAP (CAP document)")
    try:
        cap = cap_to_bulletin(data, await _known_zones(request), all_targets=override == "all")
    except CapError as err:
        request[AUDIT_DETAIL] = {"cap_error": err.message[:200]}
        raise ApiError(err.status, err.message, err.fields) from err
    referenced = await _cap_referenced(request, cap.references)
    username = principal(request).username
    if cap.msg_type == "Cancel":
        if not referenced:
            raise ApiError(404, "Không tìm thấy bản tin CAP được tham chiếu (no imported bulletin matches the "
                                "CAP references)", {"references": " ".join(f"{s},{i}" for s, i in cap.references)})
        cancelled = [b.id for b in referenced if await request.app[ORCH].cancel(b.id, username)]
        request[AUDIT_DETAIL] = {"cap": cap.identifier, "msg_type": "Cancel", "cancelled": cancelled}
        if not cancelled:
            raise ApiError(409, "Bản tin đã kết thúc (referenced bulletins already finished)")
        return json_response({"cap": {"identifier": cap.identifier, "msg_type": "Cancel"}, "cancelled": cancelled})
    async with request.app[DB].sessions() as s:
        dup = await s.scalar(select(Bulletin.id).where(Bulletin.cap_identifier == cap.identifier,
                                                       Bulletin.cap_sender == cap.sender))
    if dup is not None:
        raise ApiError(409, f"Cảnh báo CAP này đã được nhập: bản tin {dup} (CAP alert already imported)",
                       {"identifier": dup})
    assert cap.bulletin is not None
    body = await _validated(request, cap.bulletin)
    b = await _create(request, body, cap_identifier=cap.identifier, cap_sender=cap.sender)
    cancelled = []
    if cap.msg_type == "Update":  # the update supersedes what it references
        cancelled = [r.id for r in referenced if await request.app[ORCH].cancel(r.id, username)]
    request[AUDIT_DETAIL] = {**request.get(AUDIT_DETAIL, {}), "cap": cap.identifier, "cap_sender": cap.sender,
                               "msg_type": cap.msg_type, "language": cap.language, "superseded": cancelled}
    return await _read(request, b.id, 201)


async def _bulletin_or_404(session: AsyncSession, bulletin_id: str) -> Bulletin:
    b = await session.get(Bulletin, bulletin_id)
    if b is None:
        raise ApiError(404, "Không tìm thấy bản tin (no such bulletin)")
    return b


async def _read(request: web.Request, bulletin_id: str, status: int = 200) -> web.Response:
    async with request.app[DB].sessions() as s:
        b = await _bulletin_or_404(s, bulletin_id)
        ds = list((await s.scalars(select(Delivery).where(Delivery.bulletin_id == b.id))).all())
        return json_response({"bulletin": bulletin_json(b, ds)}, status)


@routes.route("GET", "/api/v1/bulletins", perm=Perm.BULLETIN_READ, summary="List bulletins (newest first)")
async def list_bulletins(request: web.Request) -> web.Response:
    limit = query_int(request, "limit", 100, 1, 1000)
    q = select(Bulletin).order_by(Bulletin.created_at.desc()).limit(limit)
    if state := request.query.get("state"):
        q = q.where(Bulletin.state == state)
    async with request.app[DB].sessions() as s:
        return json_response({"bulletins": [bulletin_json(b) for b in (await s.scalars(q)).all()]})


@routes.route("GET", "/api/v1/bulletins/{id}", perm=Perm.BULLETIN_READ, summary="Read a bulletin")
async def read(request: web.Request) -> web.Response:
    return await _read(request, request.match_info["id"])


@routes.route("PATCH", "/api/v1/bulletins/{id}", perm=Perm.BULLETIN_WRITE, summary="Edit a bulletin before sending",
              body=BulletinIn)
async def edit(request: web.Request) -> web.Response:
    changes = await parse_json(request)
    async with request.app[DB].sessions() as s:
        b = await _bulletin_or_404(s, request.match_info["id"])
        if b.state not in EDITABLE:
            raise ApiError(409, f"Bản tin đã ở trạng thái '{b.state}', không sửa được (cannot edit once sent)")
        current = bulletin_json(b)
        merged = {k: current[k] for k in BulletinIn.model_fields if k in current and current[k] is not None}
        if b.kind == "text":
            merged.pop("audio_sha256", None)
        if "expires_at" not in changes and (b.renew_at is not None or {"send_at", "recurrence"} & set(changes)):
            merged.pop("expires_at", None)  # a computed expiry follows the new send time / recurrence
        merged.update(changes)
        body = await _validated(request, merged)
        render = b.kind != body.kind or b.text != body.text or b.voice != body.voice or b.rate != body.rate
        await _apply(request, b, body, render=render or b.audio_sha256 is None)
        if b.priority == Priority.EMERGENCY and request.app[CONFIG].bulletins.emergency_two_person:
            b.state, b.approved_by = "awaiting_approval", None
        await s.commit()
    request[AUDIT_DETAIL] = {"bulletin": b.id, "changed": sorted(changes)}
    await _send_if_due(request, b)
    return await _read(request, b.id)


@routes.route("POST", "/api/v1/bulletins/{id}/approve", perm=Perm.BULLETIN_APPROVE,
              summary="Approve an emergency bulletin (second person)")
async def approve(request: web.Request) -> web.Response:
    p = principal(request)
    async with request.app[DB].sessions() as s:
        b = await _bulletin_or_404(s, request.match_info["id"])
        if b.state != "awaiting_approval":
            raise ApiError(409, f"Bản tin không chờ duyệt (state is '{b.state}')")
        if b.author == p.username:
            raise ApiError(403, "Người soạn không được tự duyệt (two-person rule: the author cannot approve)")
        b.state, b.approved_by, b.updated_at = "scheduled", p.username, now()
        await s.commit()
    request[AUDIT_DETAIL] = {"bulletin": b.id}
    await _send_if_due(request, b)
    return await _read(request, b.id)


@routes.route("POST", "/api/v1/bulletins/{id}/cancel", perm=Perm.BULLETIN_WRITE, summary="Cancel a bulletin")
async def cancel(request: web.Request) -> web.Response:
    bid = request.match_info["id"]
    if not await request.app[ORCH].cancel(bid, principal(request).username):
        async with request.app[DB].sessions() as s:
            await _bulletin_or_404(s, bid)
        raise ApiError(409, "Bản tin đã kết thúc (bulletin already finished)")
    request[AUDIT_DETAIL] = {"bulletin": bid}
    return await _read(request, bid)


@routes.route("DELETE", "/api/v1/bulletins/{id}", perm=Perm.BULLETIN_WRITE, summary="Delete a bulletin never sent")
async def delete(request: web.Request) -> web.Response:
    async with request.app[DB].sessions() as s:
        b = await _bulletin_or_404(s, request.match_info["id"])
        if b.state not in (*EDITABLE, "expired") or b.sent_at is not None:
            raise ApiError(409, "Chỉ xoá được bản tin chưa phát; hãy huỷ (only unsent bulletins; cancel instead)")
        await s.delete(b)
        await s.commit()
    request[AUDIT_DETAIL] = {"bulletin": b.id}
    return json_response({"deleted": b.id})


@routes.route("GET", "/api/v1/bulletins/{id}/deliveries", perm=Perm.BULLETIN_READ,
              summary="Per-node delivery state of a bulletin")
async def deliveries(request: web.Request) -> web.Response:
    async with request.app[DB].sessions() as s:
        b = await _bulletin_or_404(s, request.match_info["id"])
        ds = (await s.scalars(select(Delivery).where(Delivery.bulletin_id == b.id).order_by(Delivery.node_id))).all()
        return json_response({"bulletin": b.id, "state": b.state, "deliveries": [delivery_json(d) for d in ds]})


@routes.route("GET", "/api/v1/bulletins/{id}/occurrences", perm=Perm.BULLETIN_READ,
              summary="Occurrences of a recurring bulletin per node and local date (played, playing, missed)")
async def list_occurrences(request: web.Request) -> web.Response:
    async with request.app[DB].sessions() as s:
        b = await _bulletin_or_404(s, request.match_info["id"])
        rows = (await s.scalars(select(Occurrence).where(Occurrence.bulletin_id == b.id)
                                .order_by(Occurrence.occurrence, Occurrence.node_id))).all()
    summary: dict[str, dict[str, int]] = {}
    for o in rows:
        day = summary.setdefault(o.occurrence, {})
        day[o.state] = day.get(o.state, 0) + 1
    return json_response({"bulletin": b.id, "recurrence": b.recurrence, "by_date": summary,
                          "occurrences": [occurrence_json(o) for o in rows]})
