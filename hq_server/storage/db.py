"""Database lifecycle: engine, session factory, and Alembic migrations run at start-up.

Why migrate at start-up? A commune installation has no DBA; ``hq-server run`` on a new version must
bring the schema up to date by itself, on SQLite as on PostgreSQL. Migrations run on the async
engine's connection (``run_sync``), so no second, synchronous driver is needed.
"""

from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

logger = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config(url: str | None = None) -> Config:
    cfg = Config(str(MIGRATIONS / "alembic.ini"))
    cfg.set_main_option("script_location", str(MIGRATIONS))
    if url:
        cfg.set_main_option("sqlalchemy.url", url)
    return cfg


def make_engine(url: str) -> AsyncEngine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine.sync_engine, "connect")
        def _pragmas(dbapi_conn, _record) -> None:  # WAL: readers do not block the ack writer
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        return engine
    return create_async_engine(url, pool_pre_ping=True)


def _upgrade(conn: Connection, revision: str) -> None:
    cfg = alembic_config()
    cfg.attributes["connection"] = conn
    command.upgrade(cfg, revision)


async def migrate(engine: AsyncEngine, revision: str = "head") -> None:
    if logging.getLogger("alembic").level == logging.NOTSET:  # its per-plugin INFO lines are noise here
        logging.getLogger("alembic").setLevel(logging.WARNING)
    async with engine.begin() as conn:
        await conn.run_sync(_upgrade, revision)
    logger.info("database schema at %s (%s)", revision, engine.url.render_as_string(hide_password=True))


class Database:
    """Engine + session factory, created and migrated in :meth:`open`, disposed in :meth:`close`."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self.sessions: async_sessionmaker[AsyncSession] = async_sessionmaker(self.engine, expire_on_commit=False)

    async def open(self) -> Database:
        await migrate(self.engine)
        return self

    async def close(self) -> None:
        await self.engine.dispose()
