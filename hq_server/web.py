"""HTTP plumbing shared by the routes: app keys, route registry, auth/CSRF/audit/error middlewares.

Every route is declared through :class:`Routes` with the permission it needs, so "auth on every
route" is one table, checked by one middleware, and the OpenAPI description is generated from the
same table (the two cannot drift apart).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError
from sqlalchemy import select

from hq_server.config import HqConfig
from hq_server.errors import ApiError
from hq_server.inputs import MAX_JSON_BYTES, InputError, bounded_int, check_param, db_id, loads_limited
from hq_server.services.audio import AudioStore
from hq_server.services.auth import Perm, allowed, token_hash
from hq_server.services.bulletins import BulletinService
from hq_server.services.live_view import LiveHub
from hq_server.services.login_limiter import LoginLimiter
from hq_server.services.metrics import Metrics
from hq_server.services.node_settings import NodeSettings
from hq_server.services.orchestrator import Orchestrator
from hq_server.services.snapshots import SnapshotStore
from hq_server.services.zone_membership import ZoneMembership
from hq_server.storage.db import Database
from hq_server.storage.tables import ApiToken, AuditEntry, User, WebSession, now

logger = logging.getLogger(__name__)

SESSION_COOKIE = "loaxa_session"
CSRF_COOKIE = "loaxa_csrf"
CSRF_HEADER = "X-CSRF-Token"
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})

CONFIG = web.AppKey("config", HqConfig)
DB = web.AppKey("db", Database)
ORCH = web.AppKey("orchestrator", Orchestrator)
BULLETINS = web.AppKey("bulletins", BulletinService)
AUDIO = web.AppKey("audio", AudioStore)
METRICS = web.AppKey("metrics", Metrics)
LIMITER = web.AppKey("login_limiter", LoginLimiter)
SNAPSHOTS = web.AppKey("snapshots", SnapshotStore)
DETECTION_PICTURES = web.AppKey("detection_pictures", SnapshotStore)  # same file store, own directory
SETTINGS = web.AppKey("node_settings", NodeSettings)
LIVE = web.AppKey("live_views", LiveHub)
BROKER_TLS_PORT = web.AppKey("broker_tls_port", int)  # the embedded broker's TLS listener for nodes (0: none)
MEMBERSHIP = web.AppKey("zone_membership", ZoneMembership)
HtmlErrors = Callable[[web.Request, int, str], Awaitable[web.StreamResponse]]
HTML_ERRORS = web.AppKey("html_errors", HtmlErrors)  # set by the web UI: how a page shows an error

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class Principal:
    user_id: int
    username: str
    role: str
    via: str  # "session" or "token"
    csrf: str | None = None


PRINCIPAL = web.RequestKey("principal", Principal)
AUDIT_DETAIL = web.RequestKey("audit_detail", dict)
AUDIT_ACTION = web.RequestKey("audit_action", str)
AUDIT_USER = web.RequestKey("audit_user", str)
AUDIT_TARGET = web.RequestKey("audit_target", str)  # replaces the path (e.g. one carrying a secret token)


@dataclass(frozen=True)
class RouteSpec:
    method: str
    path: str
    handler: Handler
    perm: Perm | None  # None = public
    summary: str
    body: type[BaseModel] | None = None
    authenticated_only: bool = False  # any logged-in user, no particular permission
    html: bool = False  # a web UI page: errors answer as pages (401 → the login page), not JSON
    audited: bool = True  # False only for machine traffic audited elsewhere (a live view's frames)


@dataclass
class Routes:
    specs: list[RouteSpec] = field(default_factory=list)

    def route(self, method: str, path: str, *, perm: Perm | None, summary: str, body: type[BaseModel] | None = None,
              any_user: bool = False, html: bool = False, audit: bool = True) -> Callable[[Handler], Handler]:
        def deco(fn: Handler) -> Handler:
            self.specs.append(RouteSpec(method, path, fn, perm, summary, body, any_user, html, audit))
            return fn

        return deco


def field_errors(err: ValidationError) -> dict[str, str]:
    out: dict[str, str] = {}
    for e in err.errors(include_url=False):
        loc = ".".join(str(p)[:60] for p in e["loc"] if p not in ("body",))[:120] or "_"
        out.setdefault(loc, e["msg"].removeprefix("Value error, "))
    return out


async def read_capped(request: web.Request, limit: int, what: str = "Nội dung (body)") -> bytes:
    """The whole body, refused with 413 past ``limit`` bytes — declared (Content-Length) or streamed (chunked)."""
    too_big = InputError("body", f"{what} quá lớn (over {limit} bytes)", 413)
    if request.content_length is not None and request.content_length > limit:
        raise too_big
    chunks, size = [], 0
    async for chunk in request.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > limit:
            raise too_big
        chunks.append(chunk)
    return b"".join(chunks)


async def parse_json(request: web.Request) -> dict[str, Any]:
    """A JSON object body within the size, depth and text limits of :mod:`hq_server.inputs`."""
    data = loads_limited(await read_capped(request, MAX_JSON_BYTES, "Nội dung JSON (JSON body)"))
    if not isinstance(data, dict):
        raise InputError("body", "Cần một đối tượng JSON (a JSON object is required)")
    return data


async def parse_body(request: web.Request, model: type[M]) -> M:
    return model.model_validate(await parse_json(request))


def query_int(request: web.Request, name: str, default: int, lo: int, hi: int) -> int:
    """A bounded integer query parameter (``?limit=abc`` and ``?limit=-1`` are 400s)."""
    return bounded_int(name, request.query.get(name), default, lo, hi)


def path_int(request: web.Request, name: str = "id") -> int:
    """An integer row id from the path, 1..2³¹−1."""
    return db_id(name, request.match_info[name])


_SLUG = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")


def path_slug(request: web.Request, name: str = "id") -> str:
    """A node, zone or camera id from the path (the contract's id rule: 1-64 of a-z, 0-9, '-', '_')."""
    value = request.match_info[name]
    if not _SLUG.fullmatch(value):
        raise InputError(name, "Mã không hợp lệ (invalid id)", detail="use a-z, 0-9, '-', '_' (1-64)")
    return value


def principal(request: web.Request) -> Principal:
    p = request.get(PRINCIPAL)
    if p is None:
        raise ApiError(401, "Cần đăng nhập (authentication required)")
    return p


def client_ip(request: web.Request) -> str:
    return request.remote or ""


def json_response(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=lambda o: json.dumps(o, ensure_ascii=False, default=str))


INTERNAL_ERROR = "Lỗi máy chủ; đã ghi nhật ký (internal server error; it has been logged)"


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every error as JSON ``{error, fields}``; an unexpected exception is logged and answered 500."""
    try:
        return await handler(request)
    except ApiError as err:
        spec: RouteSpec | None = getattr(request.match_info.route, "_loaxa_spec", None)
        if spec is not None and spec.html and HTML_ERRORS in request.app:
            return await request.app[HTML_ERRORS](request, err.status, err.message)
        body: dict[str, Any] = {"error": err.message}
        if err.fields is not None:
            body["fields"] = err.fields
        resp = json_response(body, err.status)
        resp.headers.update(err.headers or {})
        return resp
    except ValidationError as err:
        return json_response({"error": "Dữ liệu không hợp lệ (invalid input)", "fields": field_errors(err)}, 400)
    except web.HTTPException as err:
        if err.status >= 400 and request.path.startswith("/api/"):
            return json_response({"error": err.reason}, err.status)
        raise
    except Exception:
        logger.exception("unhandled error on %s %s", request.method, safe_text(request.path))
        return json_response({"error": INTERNAL_ERROR}, 500)


@web.middleware
async def input_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Path and query parameters bounded and well-formed before any route or database query sees them."""
    for name, value in request.match_info.items():
        check_param(name, value)
    for name, value in request.query.items():
        check_param(name, value)
    return await handler(request)


def safe_text(value: str, limit: int = 200) -> str:
    """Text as the database and the log can store it (a lone surrogate becomes U+FFFD)."""
    return value[:limit].encode("utf-8", "replace").decode("utf-8")


async def _resolve(request: web.Request) -> Principal | None:
    db = request.app[DB]
    auth = request.headers.get("Authorization", "")
    async with db.sessions() as s:
        if auth.lower().startswith("bearer "):
            tok = await s.scalar(select(ApiToken).where(ApiToken.token_hash == token_hash(auth[7:].strip()),
                                                        ApiToken.revoked.is_(False)))
            if tok is None:
                return None
            user = await s.get(User, tok.user_id)
            if user is None or not user.active:
                return None
            tok.last_used_at = now()
            await s.commit()
            return Principal(user.id, user.username, user.role, "token")
        cookie = request.cookies.get(SESSION_COOKIE)
        if not cookie:
            return None
        sess = await s.get(WebSession, token_hash(cookie))
        if sess is None or sess.expires_at <= now():
            return None
        user = await s.get(User, sess.user_id)
        if user is None or not user.active:
            return None
        return Principal(user.id, user.username, user.role, "session", sess.csrf_token)


async def resolve_principal(request: web.Request) -> Principal | None:
    """The logged-in user of a request to a public route (the login page redirects one already in)."""
    return await _resolve(request)


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Deny by default: a route not declared through :class:`Routes` answers 401 (404/405 pass)."""
    spec: RouteSpec | None = getattr(request.match_info.route, "_loaxa_spec", None)
    if spec is None:
        if request.match_info.http_exception is not None:
            return await handler(request)
        raise ApiError(401, "Cần đăng nhập (authentication required)")
    public = spec.perm is None and not spec.authenticated_only
    if public or (spec.perm == Perm.METRICS and request.app[CONFIG].metrics_public):
        return await handler(request)
    p = await _resolve(request)
    if p is None:
        raise ApiError(401, "Cần đăng nhập (authentication required)")
    if p.via == "session" and request.method in UNSAFE and request.headers.get(CSRF_HEADER) != p.csrf:
        raise ApiError(403, f"Thiếu hoặc sai mã CSRF (missing or wrong {CSRF_HEADER} header)")
    request[PRINCIPAL] = p
    if spec.perm is not None and not allowed(p.role, spec.perm):
        raise ApiError(403, f"Vai trò '{p.role}' không có quyền này (role lacks permission {spec.perm.value})")
    return await handler(request)


@web.middleware
async def audit_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Write every state-changing request to the audit log: who, when, what, from where, outcome."""
    route_spec: RouteSpec | None = getattr(request.match_info.route, "_loaxa_spec", None)
    if request.method not in UNSAFE or (route_spec is not None and not route_spec.audited):
        return await handler(request)
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except (web.HTTPException, ApiError) as err:
        status = err.status
        raise
    except ValidationError:
        status = 400
        raise
    except asyncio.CancelledError:
        status = 499  # the client hung up before an answer (e.g. mid-upload); nothing was answered
        raise
    finally:
        p: Principal | None = request.get(PRINCIPAL)
        spec: RouteSpec | None = getattr(request.match_info.route, "_loaxa_spec", None)
        action = request.get(AUDIT_ACTION) or (spec.summary if spec else f"{request.method} {request.path}")
        username = request.get(AUDIT_USER) or (p.username if p else "")
        target = request.get(AUDIT_TARGET) or request.path
        async with request.app[DB].sessions() as s:
            s.add(AuditEntry(username=safe_text(username, 64), role=p.role if p else "",
                             action=safe_text(action, 100), target=safe_text(target), status=status,
                             detail=request.get(AUDIT_DETAIL) or {}, ip=client_ip(request)))
            await s.commit()


def add_routes(app: web.Application, routes: Routes) -> None:
    for spec in routes.specs:
        route = app.router.add_route(spec.method, spec.path, spec.handler)
        route._loaxa_spec = spec  # type: ignore[attr-defined]
