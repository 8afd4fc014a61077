"""Several HQ processes on one PostgreSQL and one broker: who sends, who is alive, and who cleans up after whom.

Every process handles node messages (an MQTT 5 shared subscription gives each message to one of them) and
HTTP requests. Some work must happen in one process at a time: dispatching bulletins and the sweeper (two
would send the same broadcast), and the retained topics (node state, camera health: their retained values
are not given to shared subscriptions, and their order matters). That process is the **leader**: the
holder of a PostgreSQL advisory lock, taken on a connection of its own, so it is released the moment the
process dies (the server ends the session) — no lease to expire, no clock to trust.

**A dead peer's session.** Each process has a persistent MQTT session (its ``instance`` name is in the
client id) so that a restart gets every message it had not recorded. Mosquitto 2.0 keeps giving a share
of the shared subscription's messages to a member whose client is gone, for as long as its session lives
(measured: with two members, half the messages sent while one was down waited in its session). So each
process also holds an advisory lock on its own instance; the leader tries the locks of the other
registered instances, and one it can take belongs to a dead process: the leader connects with that
instance's client id, takes over its session, unsubscribes it, handles everything the session held
(through the same inbound router: recorded, then acknowledged), and ends the session at the broker
(:class:`~hq_server.services.coordination.Adopter`). A restarting instance waits for its own lock, so it
never fights the leader for its client id.

SQLite is one process (:class:`SoleProcess`): always the leader, nothing to adopt.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import socket
from collections.abc import Awaitable, Callable
from typing import Protocol

from sqlalchemy import delete, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

from hq_server.storage.tables import HqInstance, now

logger = logging.getLogger(__name__)

Hook = Callable[[], Awaitable[None]]
AdoptHook = Callable[[HqInstance], Awaitable[int]]
WATCH_S = 1.0


def lock_key(commune: str, name: str) -> int:
    """A signed 64-bit advisory lock key, stable across processes and versions."""
    return int.from_bytes(hashlib.sha256(f"loaxa-hq:{commune}:{name}".encode()).digest()[:8], "big", signed=True)


class Coordinator(Protocol):
    instance: str

    @property
    def is_leader(self) -> bool: ...

    async def start(self) -> None: ...
    async def stop(self) -> None: ...


class SoleProcess:
    """SQLite: one HQ process, always the leader."""

    def __init__(self, instance: str, on_gain: Hook | None = None) -> None:
        self.instance = instance
        self._on_gain = on_gain

    @property
    def is_leader(self) -> bool:
        return True

    async def start(self) -> None:
        if self._on_gain is not None:
            await self._on_gain()

    async def stop(self) -> None:
        return None


class PgCoordinator:
    """Leadership and liveness through PostgreSQL advisory locks on one dedicated connection."""

    def __init__(self, engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession], commune: str, instance: str,
                 client_id: str, on_gain: Hook, on_lose: Hook, adopt: AdoptHook, watch_s: float = WATCH_S) -> None:
        self.engine = engine
        self.sessions = sessions
        self.commune = commune
        self.instance = instance
        self.client_id = client_id
        self._on_gain, self._on_lose, self._adopt = on_gain, on_lose, adopt
        self.watch_s = watch_s
        self._conn: AsyncConnection | None = None
        self._leader = False
        self._task: asyncio.Task[None] | None = None
        self.adopted: list[str] = []

    @property
    def is_leader(self) -> bool:
        return self._leader

    async def _try(self, name: str) -> bool:
        assert self._conn is not None
        return bool(await self._conn.scalar(text("SELECT pg_try_advisory_lock(:k)"),
                                            {"k": lock_key(self.commune, name)}))

    async def _unlock(self, name: str) -> None:
        assert self._conn is not None
        await self._conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": lock_key(self.commune, name)})

    async def _connect(self) -> None:
        """The dedicated connection, and this instance's own lock (waits while a peer adopts our session)."""
        self._conn = await self.engine.connect()
        await self._conn.execution_options(isolation_level="AUTOCOMMIT")
        waited = 0.0
        while not await self._try(f"instance:{self.instance}"):
            if waited % 30 == 0:
                logger.warning("HQ instance %r is held by another process (a peer finishing its messages, or a "
                               "second process configured with the same instance): waiting", self.instance)
            await asyncio.sleep(1.0)
            waited += 1.0
        async with self.sessions() as s:
            await s.execute(pg_insert(HqInstance).values(
                id=self.instance, client_id=self.client_id, host=socket.gethostname()[:100], pid=os.getpid(),
                started_at=now(), seen_at=now()).on_conflict_do_update(
                index_elements=["id"], set_={"client_id": self.client_id, "host": socket.gethostname()[:100],
                                             "pid": os.getpid(), "started_at": now(), "seen_at": now()}))
            await s.commit()

    async def start(self) -> None:
        """Returns once this instance's identity is ours; leadership is watched in the background."""
        await self._connect()
        self._task = asyncio.get_running_loop().create_task(self._watch(), name="hq:coordination")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._set_leader(False)
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await self._conn.close()  # the server releases every lock of this session
            self._conn = None

    async def _set_leader(self, leader: bool) -> None:
        if leader == self._leader:
            return
        self._leader = leader
        logger.info("HQ instance %r %s", self.instance, "is the leader (dispatch, sweeper, retained topics)"
                    if leader else "is no longer the leader")
        try:
            await (self._on_gain() if leader else self._on_lose())
        except Exception:
            logger.exception("leadership change of %r: hook failed", self.instance)

    async def _watch(self) -> None:
        while True:
            try:
                if self._conn is None:
                    await self._connect()
                if not self._leader:
                    if await self._try("leader"):
                        await self._set_leader(True)
                else:
                    await self._conn.execute(text("SELECT 1"))  # type: ignore[union-attr]
                if self._leader:
                    await self._adopt_dead()
            except asyncio.CancelledError:
                raise
            except Exception as err:  # the connection (and with it every lock) is gone
                logger.warning("coordination connection of %r lost (%s); reconnecting", self.instance, err)
                await self._set_leader(False)
                if self._conn is not None:
                    with contextlib.suppress(Exception):
                        await self._conn.close()
                self._conn = None
            await asyncio.sleep(self.watch_s)

    async def _adopt_dead(self) -> None:
        async with self.sessions() as s:
            peers = list((await s.scalars(select(HqInstance).where(HqInstance.id != self.instance))).all())
        for peer in peers:
            if not await self._try(f"instance:{peer.id}"):
                continue  # alive (it holds its lock)
            try:
                handled = await self._adopt(peer)
                async with self.sessions() as s:
                    await s.execute(delete(HqInstance).where(HqInstance.id == peer.id))
                    await s.commit()
                self.adopted.append(peer.id)
                logger.warning("HQ instance %r had stopped: its MQTT session was taken over, %d message(s) it held "
                               "recorded, and the session ended", peer.id, handled)
            finally:
                await self._unlock(f"instance:{peer.id}")
