"""Page rendering: one Jinja2 environment per language (aiohttp-jinja2), the common page context.

Why one environment per language: Jinja's i18n extension binds gettext to the environment; with two
languages two small environments are simpler and safer than swapping callables per request.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp_jinja2
import jinja2
from aiohttp import web

from hq_server.services.auth import Perm, allowed
from hq_server.ui import fmt
from hq_server.ui.assets import Assets
from hq_server.ui.nav import nav_for
from hq_server.web import PRINCIPAL, Principal
from loaxa_common.i18n import LANGUAGES, normalise_language, translations

TEMPLATES = Path(__file__).resolve().parent / "templates"
LANG_COOKIE = "loaxa_lang"
ASSETS = web.AppKey("ui_assets", Assets)
ENV_KEYS = {lang: web.AppKey(f"ui_jinja_{lang}", jinja2.Environment) for lang in LANGUAGES}
PENDING_APPROVALS = web.AppKey("ui_pending_approvals", object)  # async (request) -> int, set by the pages


def request_language(request: web.Request) -> str:
    return normalise_language(request.cookies.get(LANG_COOKIE))


def gettext_for(request: web.Request) -> fmt.Gettext:
    return translations(request_language(request)).gettext


def setup_environments(app: web.Application, assets: Assets) -> None:
    for lang, key in ENV_KEYS.items():
        env = aiohttp_jinja2.setup(app, app_key=key, loader=jinja2.FileSystemLoader(TEMPLATES),
                                   autoescape=jinja2.select_autoescape(["html"]), extensions=["jinja2.ext.i18n"],
                                   trim_blocks=True, lstrip_blocks=True)
        env.install_gettext_translations(translations(lang), newstyle=True)  # type: ignore[attr-defined]
        env.globals.update(asset=assets.url, fmt_date=fmt.fmt_date, fmt_time=fmt.fmt_time,
                           fmt_datetime=fmt.fmt_datetime, fmt_number=fmt.fmt_number, lang=lang)


def _(s: str) -> str:  # extraction marker
    return s


ROLE_NAMES = {"admin": _("Administrator"), "broadcaster": _("Broadcaster"), "technician": _("Technician"),
              "police": _("Police post")}


def base_context(request: web.Request) -> dict[str, Any]:
    p: Principal | None = request.get(PRINCIPAL)
    _ = gettext_for(request)
    return {"user": p, "nav": nav_for(request, p, _) if p else [], "csrf": p.csrf if p else "",
            "role_name": _(ROLE_NAMES.get(p.role, p.role)) if p else "", "pending_approvals": 0,
            "js_msgs": {"network": _("Cannot reach HQ. Check the connection and try again."),
                        "weekdays": "|".join(fmt.weekday_names(_))},
            "path": request.path_qs, "can": (lambda perm: p is not None and allowed(p.role, Perm(perm))),
            "weekdays": fmt.weekday_names(_), "weekdays_short": fmt.weekday_short(_)}


async def page(request: web.Request, template: str, context: dict[str, Any] | None = None,
               status: int = 200) -> web.Response:
    ctx = base_context(request)
    if ctx["user"] is not None and PENDING_APPROVALS in request.app:
        ctx["pending_approvals"] = await request.app[PENDING_APPROVALS](request)  # type: ignore[operator]
    for key, value in (context or {}).items():
        if key == "js_msgs":
            ctx["js_msgs"] = {**ctx["js_msgs"], **value}
        else:
            ctx[key] = value
    resp = aiohttp_jinja2.render_template(template, request, ctx, status=status,
                                          app_key=ENV_KEYS[request_language(request)])
    resp.headers["Cache-Control"] = "no-store"
    resp.headers["Content-Language"] = request_language(request)
    resp.enable_compression()
    return resp
