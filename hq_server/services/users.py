"""Creating accounts outside the API: the first admin (CLI or config bootstrap) and its API token."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from hq_server.services.auth import Role, hash_password_async, new_token, token_hash
from hq_server.storage.tables import ApiToken, AuditEntry, User

MIN_PASSWORD = 10


class UserError(ValueError):
    pass


async def user_count(session: AsyncSession) -> int:
    return await session.scalar(select(func.count()).select_from(User)) or 0


async def create_user(session: AsyncSession, username: str, password: str, role: str, *, full_name: str = "",
                      with_token: bool = False, actor: str = "cli") -> str | None:
    """Create a user (and optionally an API token, returned once); audited as done by ``actor``."""
    if len(password) < MIN_PASSWORD:
        raise UserError(f"password must have at least {MIN_PASSWORD} characters")
    try:
        Role(role)
    except ValueError as err:
        raise UserError(f"role must be one of {', '.join(r.value for r in Role)}") from err
    if await session.scalar(select(User).where(User.username == username)) is not None:
        raise UserError(f"user {username!r} already exists")
    user = User(username=username, role=role, full_name=full_name, password_hash=await hash_password_async(password))
    session.add(user)
    await session.flush()
    token = None
    if with_token:
        token = new_token()
        session.add(ApiToken(user_id=user.id, name=f"{actor}-created", token_hash=token_hash(token)))
    session.add(AuditEntry(username=actor, action="create user", target=username, detail={"role": role}))
    await session.commit()
    return token
