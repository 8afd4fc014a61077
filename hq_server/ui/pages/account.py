"""Log-in page, language toggle, the start page by role, static files."""

from __future__ import annotations

from urllib.parse import quote

from aiohttp import web

from hq_server.services.auth import Perm, allowed
from hq_server.ui.nav import home_for
from hq_server.ui.render import ASSETS, LANG_COOKIE, gettext_for, page
from hq_server.web import PRINCIPAL, Routes, principal, resolve_principal
from loaxa_common.i18n import LANGUAGES

routes = Routes()
YEAR_S = 365 * 24 * 3600


def safe_next(value: str | None) -> str:
    """Only a path on this site (no ``//host`` or ``scheme:``): the log-in page is no open redirect."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value


@routes.route("GET", "/login", perm=None, html=True, summary="Log-in page")
async def login_page(request: web.Request) -> web.StreamResponse:
    nxt = safe_next(request.query.get("next"))
    if await resolve_principal(request) is not None:
        raise web.HTTPFound(nxt)
    _ = gettext_for(request)
    return await page(request, "login.html", {"next": nxt, "js_msgs": {
        "need_username": _("Enter your user name."), "need_password": _("Enter your password."),
        "wrong_login": _("Wrong user name or password."),
        "too_many": _("Too many failed attempts. Wait a few minutes and try again."),
        "network": _("Cannot reach HQ. Check the connection and try again.")}})


@routes.route("GET", "/lang/{code}", perm=None, html=True, summary="Switch the interface language (remembered)")
async def switch_language(request: web.Request) -> web.StreamResponse:
    code = request.match_info["code"]
    resp = web.HTTPFound(safe_next(request.query.get("next")))
    if code in LANGUAGES:
        resp.set_cookie(LANG_COOKIE, code, max_age=YEAR_S, path="/", samesite="Lax", httponly=True)
    raise resp


@routes.route("GET", "/", perm=None, any_user=True, html=True, summary="Start page (today, or the role's page)")
async def home(request: web.Request) -> web.StreamResponse:
    p = principal(request)
    target = home_for(request.app, p)
    if allowed(p.role, Perm.BULLETIN_WRITE) or (target == "/" and allowed(p.role, Perm.BULLETIN_READ)):
        from hq_server.ui.pages.broadcast import today

        return await today(request)
    if target and target != "/":
        raise web.HTTPFound(target)
    _ = gettext_for(request)
    return await page(request, "message.html", {
        "heading": _("Welcome"), "message": _("There is no page for your role in the web interface yet.")})


@routes.route("GET", "/static/{path:.+}", perm=None, summary="Web UI static files (content-hashed, immutable)")
async def static(request: web.Request) -> web.StreamResponse:
    return request.app[ASSETS].response(request, request.match_info["path"])


async def html_error(request: web.Request, status: int, message: str) -> web.StreamResponse:
    """How a page shows an error: not logged in → the log-in page; otherwise a page with the reason."""
    if status == 401:
        raise web.HTTPFound("/login?next=" + quote(request.path_qs, safe="/"))
    _ = gettext_for(request)
    heading = {403: _("Not allowed"), 404: _("Not found")}.get(status, _("Something went wrong"))
    text = _("Your account cannot open this page.") if status == 403 else message
    if PRINCIPAL not in request:
        request[PRINCIPAL] = await resolve_principal(request)  # type: ignore[assignment]
    return await page(request, "message.html", {"heading": heading, "message": text}, status=status)
