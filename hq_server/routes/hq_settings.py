"""Settings administrators change in the web UI: the alert webhook, the order of HQ's voices, the commune's
default programme. Each ``PUT`` validates field by field (400 naming the field, in plain Vietnamese), is
audited, and takes effect at once; ``GET`` says what is in force and where it comes from (hq.yaml or the UI).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from hq_server.routes.settings import ProgrammeIn, programme_value
from hq_server.services import runtime_settings as rs
from hq_server.services.audio import build_speech
from hq_server.services.auth import Perm
from hq_server.storage.tables import DesiredSetting
from hq_server.web import (
    AUDIO,
    AUDIT_DETAIL,
    CONFIG,
    DB,
    ORCH,
    SETTINGS,
    ApiError,
    Routes,
    json_response,
    parse_body,
    principal,
)
from loaxa_speech.tts.registry import BUILT_IN_ENGINES

routes = Routes()
COMMUNE_SCOPE = ("all", "commune")


class WebhookIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str | None = Field(default=None, max_length=2048, description="Empty or null: no webhook")


class EnginesIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    engines: list[str] = Field(max_length=rs.MAX_ENGINES, description="Best first, e.g. [google, gtts, espeak]")


def apply_webhook(app: web.Application, url: str | None) -> None:
    alerter = app[ORCH].alerter
    alerter.webhook_url = url
    if url:
        alerter.start()  # the retry sweeper (a no-op when it runs already)


def apply_engines(app: web.Application, names: list[str]) -> None:
    b = app[CONFIG].bulletins
    app[AUDIO].speech = build_speech(names, b.tts_engine_options, cache_dir=app[CONFIG].data_dir / "tts-cache",
                                     cooldown_s=b.tts_cooldown_s)


def _refused(err: rs.SettingError) -> ApiError:
    return ApiError(400, "Dữ liệu không hợp lệ (invalid input)", {err.field: str(err)})


async def current(app: web.Application) -> dict[str, Any]:
    """What is in force and where it comes from (hq.yaml or saved from the UI)."""
    cfg = app[CONFIG]
    async with app[DB].sessions() as s:
        stored = await rs.load(s)
        default = await s.scalar(select(DesiredSetting).where(
            DesiredSetting.scope == COMMUNE_SCOPE[0], DesiredSetting.kind == "programme"))
    speech = app[AUDIO].speech
    hook, engines = stored.get(rs.WEBHOOK), stored.get(rs.ENGINES)
    return {
        "alert_webhook": {"url": app[ORCH].alerter.webhook_url, "source": "ui" if hook else "hq.yaml",
                          "updated_by": hook.updated_by if hook else None},
        "tts_engines": {"engines": [e.name for e in speech.engines], "source": "ui" if engines else "hq.yaml",
                        "updated_by": engines.updated_by if engines else None,
                        "known": list(BUILT_IN_ENGINES), "yaml": cfg.bulletins.tts_engines,
                        "available": {e.name: e.available() for e in speech.engines}},
        "default_programme": {"value": default.value if default else None,
                              "updated_by": default.updated_by if default else None}}


@routes.route("GET", "/api/v1/hq-settings", perm=Perm.USER_ADMIN,
              summary="Settings operators change: alert webhook, voice order, default programme (and where from)")
async def read(request: web.Request) -> web.Response:
    return json_response(await current(request.app))


@routes.route("PUT", "/api/v1/hq-settings/alert-webhook", perm=Perm.USER_ADMIN, body=WebhookIn,
              summary="Where every alert is POSTed (police post, chat bridge); empty = none")
async def put_webhook(request: web.Request) -> web.Response:
    body = await parse_body(request, WebhookIn)
    try:
        url = rs.check_webhook(body.url)
    except rs.SettingError as err:
        raise _refused(err) from err
    async with request.app[DB].sessions() as s:
        await rs.save(s, rs.WEBHOOK, {"url": url}, principal(request).username)
        await s.commit()
    apply_webhook(request.app, url)
    request[AUDIT_DETAIL] = {"url": url}
    return json_response({"url": url})


@routes.route("PUT", "/api/v1/hq-settings/tts-engines", perm=Perm.USER_ADMIN, body=EnginesIn,
              summary="The order of the voices HQ renders with, best first (espeak-ng, robotic, best last)")
async def put_engines(request: web.Request) -> web.Response:
    body = await parse_body(request, EnginesIn)
    try:
        names = rs.check_engines(body.engines)
    except rs.SettingError as err:
        raise _refused(err) from err
    try:
        apply_engines(request.app, names)
    except Exception as err:  # an engine that cannot be built (a module missing): say so, keep the old chain
        raise ApiError(400, "Không dùng được giọng đọc này (an engine could not be set up)",
                       {"engines": str(err)[:200]}) from err
    async with request.app[DB].sessions() as s:
        await rs.save(s, rs.ENGINES, {"engines": names}, principal(request).username)
        await s.commit()
    request[AUDIT_DETAIL] = {"engines": names}
    return json_response({"engines": names})


@routes.route("PUT", "/api/v1/hq-settings/default-programme", perm=Perm.USER_ADMIN, body=ProgrammeIn,
              summary="The commune's default programme windows: for every loudspeaker without its own or its "
                      "village's")
async def put_default_programme(request: web.Request) -> web.Response:
    value = programme_value(await parse_body(request, ProgrammeIn))
    value = {k: v for k, v in value.items() if v is not None}
    nodes = await request.app[SETTINGS].set_desired(*COMMUNE_SCOPE, "programme", value, principal(request).username)
    request[AUDIT_DETAIL] = {"programme": value, "nodes": nodes[:50]}
    return json_response({"desired": value, "nodes": nodes})


def install(app: web.Application) -> None:
    """Apply what operators saved, over hq.yaml, once the orchestrator runs (so a restart keeps their choice)."""

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        async with app[DB].sessions() as s:
            stored: dict[str, Any] = {k: v.value for k, v in (await rs.load(s)).items()}
        if rs.WEBHOOK in stored:
            apply_webhook(app, stored[rs.WEBHOOK].get("url"))
        if rs.ENGINES in stored:
            apply_engines(app, stored[rs.ENGINES]["engines"])
        yield

    app.cleanup_ctx.append(ctx)
