"""Several HQ processes on one PostgreSQL and one broker: who sends, who is alive, who cleans up after whom.

Every process serves HTTP and handles node messages (an MQTT 5 shared subscription gives each message to
one of them). Some work must happen in one process at a time: dispatching bulletins and the sweeper (two
would send the same broadcast), and the retained topics (node state, camera health: the broker gives no
retained value to a shared subscription, and their order matters). That process is the **leader**: the
holder of a PostgreSQL advisory lock taken on a connection of its own, so it is released the moment the
process dies (the server ends its session) — no lease to expire, no clock to trust.

**A stopped peer's session.** Each process keeps a persistent MQTT session named after its instance (a
restart gets every message it had not recorded); while it is down the broker keeps giving that session
its share (:mod:`hq_server.services.session_adoption`). So each process also holds an advisory lock on
its own instance name; the leader tries the locks of the other registered instances, and one it can take
belongs to a stopped process: it takes over that session (records what it held, ends it) and removes
the instance. It does this *before* it starts dispatching, so the acks a dead leader held are recorded
before its unfinished broadcast is resumed. A restarting instance waits for its own lock, so it never
fights the leader for its client id.

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
from dataclasses import replace
from typing import Protocol

from sqlalchemy import delete, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

from hq_server.services.orchestrator import Orchestrator
from hq_server.services.session_adoption import Adopter
from hq_server.storage.tables import HqInstance, now

logger = logging.getLogger(__name__)

Hook = Callable[[], Awaitable[None]]
AdoptHook = Callable[[HqInstance], Awaitable[int]]
WATCH_S = 1.0
CHECK_TIMEOUT_S = 5.0
KICK_CHANNEL = "loaxa_hq_kick"
"""PostgreSQL NOTIFY channel (payload: the commune) by which a process wakes the leader's sweeper."""
"""The leader's check of its connection: no answer within this, and it steps down (stops dispatching)."""


def lock_key(commune: str, name: str) -> int:
    """A signed 64-bit advisory lock key, stable across processes and versions."""
    return int.from_bytes(hashlib.sha256(f"loaxa-hq:{commune}:{name}".encode()).digest()[:8], "big", signed=True)


class Coordinator(Protocol):
    instance: str

    @property
    def is_leader(self) -> bool: ...

    async def start(self) -> None: ...
    def watch(self) -> None: ...
    async def stop(self) -> None: ...


class SoleProcess:
    """SQLite: one HQ process (the database has one writer, and the embedded broker one owner), always the
    leader; nothing changes from a single HQ."""

    def __init__(self, instance: str) -> None:
        self.instance = instance

    @property
    def is_leader(self) -> bool:
        return True

    async def start(self) -> None:
        return None

    def watch(self) -> None:
        return None

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
        self.on_kick: Callable[[], None] | None = None
        """Called on the leader when another process committed a bulletin that may be due."""
        self._kicks: set[asyncio.Task[None]] = set()

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
        raw = await self._conn.get_raw_connection()  # the asyncpg connection: kicks arrive on it
        await raw.driver_connection.add_listener(KICK_CHANNEL, self._on_kick)  # type: ignore[union-attr]
        async with self.sessions() as s:
            await s.execute(pg_insert(HqInstance).values(
                id=self.instance, client_id=self.client_id, host=socket.gethostname()[:100], pid=os.getpid(),
                started_at=now(), seen_at=now()).on_conflict_do_update(
                index_elements=["id"], set_={"client_id": self.client_id, "host": socket.gethostname()[:100],
                                             "pid": os.getpid(), "started_at": now(), "seen_at": now()}))
            await s.commit()

    def _on_kick(self, _conn: object, _pid: int, _channel: str, payload: str) -> None:
        if self._leader and payload == self.commune and self.on_kick is not None:
            self.on_kick()

    def kick_leader(self) -> None:
        """Tell the leader a bulletin was committed here that may be due (a NOTIFY: it sweeps at once instead
        of at its next pass)."""
        task = asyncio.get_running_loop().create_task(self._notify(), name="hq:kick-leader")
        self._kicks.add(task)
        task.add_done_callback(self._kicks.discard)

    async def _notify(self) -> None:
        try:
            async with self.sessions() as s:
                await s.execute(text("SELECT pg_notify(:channel, :commune)"),
                                {"channel": KICK_CHANNEL, "commune": self.commune})
                await s.commit()
        except Exception as err:  # the leader's next pass sends it anyway
            logger.warning("could not wake the leader (%s); it sends at its next pass", err)

    async def start(self) -> None:
        """Returns once this instance's identity is ours (before its MQTT link connects with its client id)."""
        await self._connect()

    def watch(self) -> None:
        """Contend for leadership and watch the peers, in the background (once the inbound router runs:
        adopting a stopped peer's session hands its messages to the router)."""
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
                if self._leader:
                    async with asyncio.timeout(CHECK_TIMEOUT_S):  # a hung connection is a lost one
                        await self._conn.execute(text("SELECT 1"))  # type: ignore[union-attr]
                    await self._adopt_stopped()
                elif await self._try("leader"):
                    await self._adopt_stopped()  # first: what a dead leader held is recorded before dispatching
                    await self._set_leader(True)
            except asyncio.CancelledError:
                raise
            except Exception as err:  # the connection (and with it every lock) is gone
                logger.warning("coordination connection of %r lost (%s); reconnecting", self.instance, err)
                await self._set_leader(False)
                if self._conn is not None:
                    with contextlib.suppress(Exception):
                        async with asyncio.timeout(CHECK_TIMEOUT_S):
                            await self._conn.close()
                self._conn = None
            await asyncio.sleep(self.watch_s)

    async def _adopt_stopped(self) -> None:
        """Take over the session of every registered instance whose lock nobody holds (its process stopped)."""
        async with self.sessions() as s:
            peers = list((await s.scalars(select(HqInstance).where(HqInstance.id != self.instance))).all())
        for peer in peers:
            if not await self._try(f"instance:{peer.id}"):
                continue  # alive (it holds its lock)
            try:
                handled = await self._adopt(peer)
            except Exception as err:  # the broker unreachable, or too slow: tried again at the next tick
                logger.warning("HQ instance %r stopped; taking over its MQTT session failed (%s): retried", peer.id,
                               err)
                continue
            finally:
                await self._unlock(f"instance:{peer.id}")
            async with self.sessions() as s:
                await s.execute(delete(HqInstance).where(HqInstance.id == peer.id))
                await s.commit()
            self.adopted.append(peer.id)
            logger.warning("HQ instance %r had stopped: its MQTT session was taken over, %d message(s) it held "
                           "recorded, and the session ended", peer.id, handled)


def coordinator_for(engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession], commune: str, instance: str,
                    orch: Orchestrator) -> Coordinator:
    """By the database: PostgreSQL may be shared by several HQ processes; SQLite is one process."""
    if engine.dialect.name != "postgresql":
        return SoleProcess(instance)
    adopter = Adopter(replace(orch.link.config), orch.router, commune)

    async def adopt(peer: HqInstance) -> int:
        return await adopter.adopt(peer.client_id)

    async def gain() -> None:
        await orch.set_leading(True)

    async def lose() -> None:
        await orch.set_leading(False)

    coordinator = PgCoordinator(engine, sessions, commune, instance, orch.link.config.client_id, gain, lose, adopt)
    coordinator.on_kick = orch.sweeper.wake
    orch.share_with_peers(lambda: coordinator.is_leader, coordinator.kick_leader)
    return coordinator


def client_id(commune: str, instance: str, shared: bool) -> str:
    """HQ's MQTT client id: one per instance when several may run (each keeps its own session)."""
    return f"loaxa-hq-{commune}-{instance}" if shared else f"loaxa-hq-{commune}"
