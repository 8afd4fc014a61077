"""The login limiter: a password is checked only after its attempt has been counted, atomically, in the database.

Why this shape: checking "under the limit?" and recording a failure *after* a slow password check lets
every request that arrives during the check pass the test — 100 parallel guesses were all verified.
Here each attempt first **reserves** a slot with one atomic upsert per key (``INSERT … ON CONFLICT DO
UPDATE … RETURNING count``, the same statement on SQLite and PostgreSQL); an attempt whose slot is over
the limit is refused before any password is looked at. A failure keeps its slot; a success releases it
(and forgets that user name's failures). Counters live in the database, so several HQ processes on one
PostgreSQL share them.

Two keys per attempt, each with its own threshold: the user name (``max_per_user``, low: guessing one
account) and the client address (``max_per_address``, higher: one address is a whole commune office
behind one router, and a few typos by different people must not lock everyone out, while spraying many
user names from one address still stops). Fixed windows of ``window_s`` from an attempt's first
failure; the answer says how long to wait.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, delete, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hq_server.storage.tables import LoginCounter, now

logger = logging.getLogger(__name__)

KEY_CHARS = 120


class LoginLocked(Exception):
    """Too many attempts for this user name or address; ``retry_after_s`` until the window ends."""

    def __init__(self, retry_after_s: float, scope: str) -> None:
        super().__init__(f"login locked for {retry_after_s:.0f}s ({scope})")
        self.retry_after_s = retry_after_s
        self.scope = scope  # "user" or "address"


@dataclass(frozen=True)
class Reservation:
    """The slots one attempt holds; hand it back to :meth:`LoginLimiter.succeeded` or leave it as a failure."""

    user_key: str
    address_key: str


def user_key(username: str) -> str:
    return f"user:{username.strip().lower()}"[:KEY_CHARS]


def address_key(ip: str) -> str:
    return f"ip:{ip}"[:KEY_CHARS]


class LoginLimiter:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], max_per_user: int, max_per_address: int,
                 window_s: float, clock: Callable[[], datetime] = now) -> None:
        self.sessions = sessions
        self.max_per_user = max_per_user
        self.max_per_address = max_per_address
        self.window = timedelta(seconds=window_s)
        self.clock = clock
        self._last_prune = 0.0

    def _upsert(self, dialect: str, key: str, at: datetime) -> Any:
        """One statement: count this attempt in ``key``'s window (a new window if the old one ended)."""
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        expired = LoginCounter.window_start <= at - self.window
        stmt = insert(LoginCounter).values(key=key, window_start=at, count=1)
        stmt = stmt.on_conflict_do_update(index_elements=[LoginCounter.key], set_={
            "count": _case(expired, 1, LoginCounter.count + 1),
            "window_start": _case(expired, at, LoginCounter.window_start),
        })
        return stmt.returning(LoginCounter.count, LoginCounter.window_start)

    async def _take(self, session: AsyncSession, key: str, limit: int, at: datetime, scope: str) -> None:
        dialect = session.bind.dialect.name
        count, start = (await session.execute(self._upsert(dialect, key, at))).one()
        await session.commit()
        if count > limit:
            start = start if start.tzinfo else start.replace(tzinfo=at.tzinfo)
            raise LoginLocked(max(1.0, (start + self.window - at).total_seconds()), scope)

    async def reserve(self, ip: str, username: str) -> Reservation:
        """Count this attempt for the user name, then for the address; :class:`LoginLocked` if either is over.

        The user name goes first: attempts against a locked account do not use up the office's budget.
        """
        res = Reservation(user_key(username), address_key(ip))
        at = self.clock()
        async with self.sessions() as session:
            await self._prune(session, at)
            await self._take(session, res.user_key, self.max_per_user, at, "user")
            try:
                await self._take(session, res.address_key, self.max_per_address, at, "address")
            except LoginLocked:
                await self._release(session, res.user_key)
                raise
        return res

    async def failed(self, res: Reservation) -> None:
        """A wrong password: the reserved slots stay counted (nothing to write)."""
        logger.info("failed login counted for %s and %s", res.user_key, res.address_key)

    async def succeeded(self, res: Reservation) -> None:
        """A right password: forget the user name's failures; give the address back this attempt's slot."""
        async with self.sessions() as session:
            await session.execute(delete(LoginCounter).where(LoginCounter.key == res.user_key))
            await self._release(session, res.address_key)

    @staticmethod
    async def _release(session: AsyncSession, key: str) -> None:
        await session.execute(update(LoginCounter).where(LoginCounter.key == key, LoginCounter.count > 0)
                              .values(count=LoginCounter.count - 1))
        await session.commit()

    async def _prune(self, session: AsyncSession, at: datetime) -> None:
        """Drop ended windows now and then, so made-up user names do not pile up."""
        if time.monotonic() - self._last_prune < self.window.total_seconds() / 2:
            return
        self._last_prune = time.monotonic()
        await session.execute(delete(LoginCounter).where(LoginCounter.window_start <= at - self.window))
        await session.commit()

    async def clear(self) -> None:
        """Forget every counter (an administrator's reset; tests)."""
        async with self.sessions() as session:
            await session.execute(delete(LoginCounter))
            await session.commit()


def _case(cond: Any, then: Any, otherwise: Any) -> Any:
    return case((cond, then), else_=otherwise)
