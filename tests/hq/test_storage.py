"""The schema migrates from empty (and back) on SQLite and on a real PostgreSQL; times stay UTC-aware."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from alembic import command
from sqlalchemy import inspect, select

from hq_server.storage.db import Database, alembic_config
from hq_server.storage.tables import Base, Bulletin, Delivery
from tests.hq.fixtures import fresh_postgres_db

TABLES = set(Base.metadata.tables)


async def _roundtrip(url: str) -> None:
    db = await Database(url).open()
    try:
        async with db.engine.connect() as conn:
            names = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
        assert names >= TABLES and "alembic_version" in names
        expires = datetime.now(UTC) + timedelta(hours=1)
        async with db.sessions() as s:
            s.add(Bulletin(id="b1", text="Xin chào", targets={"all": True}, expires_at=expires, state="scheduled",
                           author="t"))
            await s.flush()
            s.add(Delivery(bulletin_id="b1", node_id="loa-1"))
            await s.commit()
        async with db.sessions() as s:
            b = await s.scalar(select(Bulletin))
            assert b is not None and b.expires_at == expires and b.expires_at.tzinfo is not None
            assert b.targets == {"all": True}
        await db.open()  # idempotent: already at head

        def down_and_up(sync_conn) -> None:
            cfg = alembic_config()
            cfg.attributes["connection"] = sync_conn
            command.downgrade(cfg, "base")
            command.upgrade(cfg, "head")

        async with db.engine.begin() as conn:
            await conn.run_sync(down_and_up)
    finally:
        await db.close()


async def test_sqlite_migrates_from_empty(tmp_path):
    await _roundtrip(f"sqlite+aiosqlite:///{tmp_path / 'hq.sqlite3'}")


@pytest.mark.postgres
async def test_postgresql_migrates_from_empty(postgres_url):
    await _roundtrip(await fresh_postgres_db(postgres_url, "hq_migrate"))


async def _schema_diff(url: str) -> list:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    db = await Database(url).open()
    try:
        async with db.engine.connect() as conn:
            return await conn.run_sync(lambda c: compare_metadata(MigrationContext.configure(c), Base.metadata))
    finally:
        await db.close()


async def test_migrations_match_the_orm_tables(tmp_path):
    assert await _schema_diff(f"sqlite+aiosqlite:///{tmp_path / 'hq.sqlite3'}") == []


@pytest.mark.postgres
async def test_migrations_match_the_orm_tables_on_postgresql(postgres_url):
    assert await _schema_diff(await fresh_postgres_db(postgres_url, "hq_schema_diff")) == []
