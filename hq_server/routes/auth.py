"""Login / logout / me, users (admin) and API tokens."""

from __future__ import annotations

from datetime import timedelta

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from hq_server.services.auth import Perm, Role, hash_password, new_token, token_hash, verify_password
from hq_server.storage.tables import ApiToken, User, WebSession, now
from hq_server.web import (
    AUDIT_ACTION,
    AUDIT_DETAIL,
    AUDIT_USER,
    CONFIG,
    CSRF_COOKIE,
    DB,
    LIMITER,
    SESSION_COOKIE,
    ApiError,
    Routes,
    client_ip,
    json_response,
    parse_body,
    principal,
)

routes = Routes()


class LoginIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


class UserIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(min_length=2, max_length=64, pattern=r"^[A-Za-z0-9_.@-]+$")
    password: str = Field(min_length=10, max_length=1024, description="At least 10 characters")
    role: Role
    full_name: str = Field(default="", max_length=200)


class TokenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(default="", max_length=100)


def user_json(u: User) -> dict[str, object]:
    return {"id": u.id, "username": u.username, "full_name": u.full_name, "role": u.role, "active": u.active,
            "created_at": u.created_at.isoformat()}


@routes.route("POST", "/api/v1/auth/login", perm=None, summary="Log in (session cookie + CSRF token)", body=LoginIn)
async def login(request: web.Request) -> web.Response:
    body = await parse_body(request, LoginIn)
    cfg, limiter, ip = request.app[CONFIG], request.app[LIMITER], client_ip(request)
    request[AUDIT_ACTION], request[AUDIT_USER] = "login", body.username
    wait = limiter.retry_after(ip, body.username)
    if wait > 0:
        raise ApiError(429, f"Quá nhiều lần đăng nhập sai; thử lại sau {int(wait) + 1} giây (too many failed logins)")
    async with request.app[DB].sessions() as s:
        user = await s.scalar(select(User).where(User.username == body.username))
        if not verify_password(user.password_hash if user else None, body.password) or not user or not user.active:
            limiter.failed(ip, body.username)
            raise ApiError(401, "Sai tên đăng nhập hoặc mật khẩu (wrong user name or password)")
        limiter.succeeded(body.username)
        token, csrf = new_token(), new_token()
        s.add(WebSession(token_hash=token_hash(token), user_id=user.id, csrf_token=csrf, ip=ip,
                         expires_at=now() + timedelta(seconds=cfg.http.session_ttl_s)))
        await s.commit()
        resp = json_response({"user": user_json(user), "csrf_token": csrf})
    secure = cfg.http.secure_cookies
    resp.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="Strict", secure=secure,
                    max_age=cfg.http.session_ttl_s, path="/")
    resp.set_cookie(CSRF_COOKIE, csrf, httponly=False, samesite="Strict", secure=secure,
                    max_age=cfg.http.session_ttl_s, path="/")
    return resp


@routes.route("POST", "/api/v1/auth/logout", perm=None, any_user=True, summary="Log out (ends the session)")
async def logout(request: web.Request) -> web.Response:
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        async with request.app[DB].sessions() as s:
            sess = await s.get(WebSession, token_hash(cookie))
            if sess is not None:
                await s.delete(sess)
                await s.commit()
    resp = json_response({"ok": True})
    resp.del_cookie(SESSION_COOKIE, path="/")
    resp.del_cookie(CSRF_COOKIE, path="/")
    return resp


@routes.route("GET", "/api/v1/auth/me", perm=None, any_user=True, summary="The logged-in user")
async def me(request: web.Request) -> web.Response:
    p = principal(request)
    async with request.app[DB].sessions() as s:
        user = await s.get(User, p.user_id)
        assert user is not None
        return json_response({"user": user_json(user), "via": p.via})


@routes.route("GET", "/api/v1/users", perm=Perm.USER_ADMIN, summary="List users")
async def list_users(request: web.Request) -> web.Response:
    async with request.app[DB].sessions() as s:
        return json_response({"users": [user_json(u) for u in (await s.scalars(select(User).order_by(User.id)))]})


@routes.route("POST", "/api/v1/users", perm=Perm.USER_ADMIN, summary="Create a user", body=UserIn)
async def create_user(request: web.Request) -> web.Response:
    body = await parse_body(request, UserIn)
    async with request.app[DB].sessions() as s:
        if await s.scalar(select(User).where(User.username == body.username)) is not None:
            raise ApiError(409, "Tên đăng nhập đã tồn tại (user exists)", {"username": "already exists"})
        user = User(username=body.username, role=body.role.value, full_name=body.full_name,
                    password_hash=hash_password(body.password))
        s.add(user)
        await s.commit()
        request[AUDIT_DETAIL] = {"username": body.username, "role": body.role.value}
        return json_response({"user": user_json(user)}, 201)


@routes.route("POST", "/api/v1/tokens", perm=None, any_user=True, summary="Create an API token for yourself",
              body=TokenIn)
async def create_token(request: web.Request) -> web.Response:
    body = await parse_body(request, TokenIn)
    p = principal(request)
    token = new_token()
    async with request.app[DB].sessions() as s:
        s.add(ApiToken(user_id=p.user_id, name=body.name, token_hash=token_hash(token)))
        await s.commit()
    request[AUDIT_DETAIL] = {"name": body.name}
    return json_response({"token": token, "name": body.name, "note": "shown once; send as 'Authorization: Bearer'"},
                         201)
