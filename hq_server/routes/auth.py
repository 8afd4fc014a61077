"""Login / logout / me, users (admin) and API tokens."""

from __future__ import annotations

from datetime import timedelta

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from hq_server.inputs import db_id
from hq_server.services.auth import (
    Perm,
    Role,
    allowed,
    hash_password_async,
    new_token,
    token_hash,
    verify_password_async,
)
from hq_server.services.login_limiter import LoginLimiter, LoginLocked, Reservation
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
    path_int,
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
    reservation = await _reserve(request, limiter, ip, body.username)  # counted before the password is looked at
    async with request.app[DB].sessions() as s:
        user = await s.scalar(select(User).where(User.username == body.username))
    ok = await verify_password_async(user.password_hash if user else None, body.password)
    if not ok or user is None or not user.active:
        await limiter.failed(reservation)
        raise ApiError(401, "Sai tên đăng nhập hoặc mật khẩu (wrong user name or password)")
    await limiter.succeeded(reservation)
    async with request.app[DB].sessions() as s:
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


async def _reserve(request: web.Request, limiter: LoginLimiter, ip: str, username: str) -> Reservation:
    try:
        return await limiter.reserve(ip, username)
    except LoginLocked as err:
        wait = int(err.retry_after_s) + 1
        request[AUDIT_DETAIL] = {"locked": err.scope, "retry_after_s": wait}
        who, field = ("tên đăng nhập này", "username") if err.scope == "user" else ("địa chỉ máy này", "address")
        raise ApiError(429, f"Quá nhiều lần đăng nhập sai với {who}; thử lại sau {wait} giây (too many failed "
                            f"logins for this {'user name' if field == 'username' else 'address'}; retry in {wait} s)",
                       {field: f"retry after {wait} s"}, headers={"Retry-After": str(wait)}) from err


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
                    password_hash=await hash_password_async(body.password))
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


class PasswordIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    old_password: str = Field(min_length=1, max_length=1024)
    new_password: str = Field(min_length=10, max_length=1024, description="At least 10 characters")


def _user_id(request: web.Request) -> int:
    return path_int(request)


@routes.route("POST", "/api/v1/auth/password", perm=None, any_user=True, body=PasswordIn,
              summary="Change your own password (old password required; your other sessions end)")
async def change_password(request: web.Request) -> web.Response:
    body = await parse_body(request, PasswordIn)
    p, limiter, ip = principal(request), request.app[LIMITER], client_ip(request)
    if body.new_password == body.old_password:
        raise ApiError(400, "Mật khẩu mới phải khác (new password must differ)", {"new_password": "unchanged"})
    reservation = await _reserve(request, limiter, ip, p.username)  # a stolen session must not guess freely
    async with request.app[DB].sessions() as s:
        user = await s.get(User, p.user_id)
        assert user is not None
        if not await verify_password_async(user.password_hash, body.old_password):
            await limiter.failed(reservation)
            raise ApiError(400, "Mật khẩu cũ không đúng (old password is wrong)", {"old_password": "wrong"})
        await limiter.succeeded(reservation)
        user.password_hash = await hash_password_async(body.new_password)
        current = token_hash(request.cookies.get(SESSION_COOKIE, "")) if p.via == "session" else None
        ended = await _end_sessions(s, user.id, keep=current)
        await s.commit()
    request[AUDIT_DETAIL] = {"sessions_ended": ended}
    return json_response({"ok": True, "sessions_ended": ended})


async def _end_sessions(s: AsyncSession, user_id: int, keep: str | None = None) -> int:
    q = delete(WebSession).where(WebSession.user_id == user_id)
    if keep:
        q = q.where(WebSession.token_hash != keep)
    return (await s.execute(q)).rowcount or 0  # type: ignore[attr-defined]


async def _set_active(request: web.Request, active: bool) -> web.Response:
    uid, p = _user_id(request), principal(request)
    async with request.app[DB].sessions() as s:
        user = await s.get(User, uid)
        if user is None:
            raise ApiError(404, "Không tìm thấy người dùng (no such user)")
        if not active and user.id == p.user_id:
            # (so at least one active admin always remains: the one doing this)
            raise ApiError(409, "Không thể tự khoá tài khoản của mình (you cannot deactivate yourself)")
        user.active = active
        ended = 0 if active else await _end_sessions(s, user.id)
        await s.commit()
        request[AUDIT_DETAIL] = {"username": user.username, "active": active, "sessions_ended": ended}
        return json_response({"user": user_json(user), "sessions_ended": ended})


@routes.route("POST", "/api/v1/users/{id}/deactivate", perm=Perm.USER_ADMIN,
              summary="Deactivate a user (sessions end; tokens stop working)")
async def deactivate_user(request: web.Request) -> web.Response:
    return await _set_active(request, False)


@routes.route("POST", "/api/v1/users/{id}/activate", perm=Perm.USER_ADMIN, summary="Re-activate a user")
async def activate_user(request: web.Request) -> web.Response:
    return await _set_active(request, True)


class RoleChangeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: Role


@routes.route("PUT", "/api/v1/users/{id}/role", perm=Perm.USER_ADMIN, body=RoleChangeIn,
              summary="Change a user's role (not your own; in force at their next request)")
async def change_role(request: web.Request) -> web.Response:
    """A person's job changes (a broadcaster becomes the admin, a technician leaves for the police post). The role
    is read from the account at every request, so sessions and tokens keep working with the new rights at once.
    Not your own: an admin cannot lock the commune out of its administration by demoting themself."""
    uid, p = _user_id(request), principal(request)
    body = await parse_body(request, RoleChangeIn)
    if uid == p.user_id:
        raise ApiError(409, "Không thể tự đổi vai trò của mình (you cannot change your own role)")
    async with request.app[DB].sessions() as s:
        user = await s.get(User, uid)
        if user is None:
            raise ApiError(404, "Không tìm thấy người dùng (no such user)")
        previous, user.role = user.role, body.role.value
        await s.commit()
        request[AUDIT_DETAIL] = {"username": user.username, "role": user.role, "previous": previous}
        return json_response({"user": user_json(user), "previous": previous})


class PasswordResetIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    new_password: str = Field(min_length=10, max_length=1024, description="At least 10 characters")


@routes.route("POST", "/api/v1/users/{id}/password", perm=Perm.USER_ADMIN, body=PasswordResetIn,
              summary="Set another user's password (admin; their sessions end; yours: /api/v1/auth/password)")
async def reset_password(request: web.Request) -> web.Response:
    uid, p = _user_id(request), principal(request)
    body = await parse_body(request, PasswordResetIn)
    if uid == p.user_id:
        raise ApiError(409, "Hãy đổi mật khẩu của mình qua /api/v1/auth/password (use the change-own-password "
                            "endpoint, which asks for the old password)")
    async with request.app[DB].sessions() as s:
        user = await s.get(User, uid)
        if user is None:
            raise ApiError(404, "Không tìm thấy người dùng (no such user)")
        user.password_hash = await hash_password_async(body.new_password)
        ended = await _end_sessions(s, user.id)
        await s.commit()
        request[AUDIT_DETAIL] = {"username": user.username, "sessions_ended": ended}
        return json_response({"user": user_json(user), "sessions_ended": ended})


def token_json(t: ApiToken) -> dict[str, object]:
    return {"id": t.id, "user_id": t.user_id, "name": t.name, "created_at": t.created_at.isoformat(),
            "last_used_at": t.last_used_at.isoformat() if t.last_used_at else None, "revoked": t.revoked}


@routes.route("GET", "/api/v1/tokens", perm=None, any_user=True,
              summary="Your API tokens (admins: ?user=ID for another user's); never the token itself")
async def list_tokens(request: web.Request) -> web.Response:
    p = principal(request)
    uid = p.user_id
    if "user" in request.query:
        if not allowed(p.role, Perm.USER_ADMIN):
            raise ApiError(403, "Chỉ quản trị viên xem token của người khác (admins only)")
        uid = db_id("user", request.query["user"])
    async with request.app[DB].sessions() as s:
        rows = (await s.scalars(select(ApiToken).where(ApiToken.user_id == uid).order_by(ApiToken.id))).all()
    return json_response({"tokens": [token_json(t) for t in rows]})


@routes.route("DELETE", "/api/v1/tokens/{id}", perm=None, any_user=True,
              summary="Revoke an API token (your own; admins: anyone's)")
async def revoke_token(request: web.Request) -> web.Response:
    tid, p = _user_id(request), principal(request)
    async with request.app[DB].sessions() as s:
        tok = await s.get(ApiToken, tid)
        if tok is None or (tok.user_id != p.user_id and not allowed(p.role, Perm.USER_ADMIN)):
            raise ApiError(404, "Không tìm thấy token (no such token)")
        tok.revoked = True
        await s.commit()
        request[AUDIT_DETAIL] = {"token": tid, "name": tok.name, "user_id": tok.user_id}
        return json_response({"token": token_json(tok)})
