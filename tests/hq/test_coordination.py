"""Several HQ processes: the instance name, the filters each process subscribes, and leadership by
PostgreSQL advisory lock (real PostgreSQL; the MQTT session takeover is a hook here, tested end to end
in tests/integration/test_multi_hq.py)."""

from __future__ import annotations

import asyncio

import pytest
from pydantic import ValidationError
from sqlalchemy import select

from hq_server.config import HqConfig, default_instance
from hq_server.services.coordination import PgCoordinator, SoleProcess, client_id
from hq_server.services.inbound_router import INBOUND, LEADER, SHARED, shared_subscriptions, stale_filters
from hq_server.storage.db import Database
from hq_server.storage.tables import HqInstance
from loaxa_contract import topics
from tests.conftest import wait_until
from tests.hq.fixtures import fresh_postgres_db


def test_instance_name_is_checked_with_a_vietnamese_message() -> None:
    assert HqConfig(commune="xa", instance="hq-2").instance_name == "hq-2"
    with pytest.raises(ValidationError, match="tên tiến trình HQ 'HQ 2' không hợp lệ"):
        HqConfig(commune="xa", instance="HQ 2")
    with pytest.raises(ValidationError):
        HqConfig(commune="xa", instance="x" * 41)


def test_default_instance_comes_from_the_host_name() -> None:
    assert default_instance("Web_01.Example.org") == "web-01-example-org"
    assert default_instance("___") == "hq"
    assert default_instance("a" * 80) == "a" * 40
    assert client_id("xa", "hq-2", shared=True) == "loaxa-hq-xa-hq-2"
    assert client_id("xa", "hq-2", shared=False) == "loaxa-hq-xa"  # one process: the session it always had


def test_shared_filters_cover_every_inbound_kind_once() -> None:
    assert set(SHARED) | set(LEADER) == set(INBOUND) and not set(SHARED) & set(LEADER)
    assert all(topics.TOPICS[k].retained for k in LEADER)  # a shared subscription gets no retained value
    leader, follower = shared_subscriptions("xa", True), shared_subscriptions("xa", False)
    assert [f for f in leader if f.startswith("$share/")] == follower
    assert sorted(f for f in leader if not f.startswith("$share/")) == sorted(
        topics.filter_for(k, "xa") for k in LEADER)
    assert not set(stale_filters("xa", leader=True)) & set(leader)  # never drops what it needs
    assert not set(stale_filters("xa", leader=False)) & set(follower)


async def test_sqlite_is_one_process_always_leading() -> None:
    sole = SoleProcess("hq")
    await sole.start()
    sole.watch()
    assert sole.is_leader


class Peer:
    """A PgCoordinator with recording hooks and its own engine (its own server session, like a process)."""

    def __init__(self, url: str, name: str) -> None:
        self.db = Database(url)
        self.events: list[str] = []
        self.adopted: list[str] = []

        async def gain() -> None:
            self.events.append("gain")

        async def lose() -> None:
            self.events.append("lose")

        async def adopt(peer: HqInstance) -> int:
            self.adopted.append(peer.client_id)
            return 0

        self.coord = PgCoordinator(self.db.engine, self.db.sessions, "xa", name, f"loaxa-hq-xa-{name}", gain, lose,
                                   adopt, watch_s=0.1)

    async def start(self) -> None:
        await self.db.open()
        await self.coord.start()
        self.coord.watch()

    async def stop(self) -> None:
        await self.coord.stop()
        await self.db.close()


async def test_one_leader_and_the_other_takes_over_when_it_stops(postgres_url) -> None:
    url = await fresh_postgres_db(postgres_url, "coordination")
    a, b = Peer(url, "hq-a"), Peer(url, "hq-b")
    await a.start()
    await wait_until(lambda: a.coord.is_leader, 20, "the first process leads")
    await b.start()
    await asyncio.sleep(0.5)  # five watch periods: the second must stay a follower
    assert not b.coord.is_leader and b.events == []
    await a.stop()  # its server session ends: both its locks are released
    await wait_until(lambda: b.coord.is_leader, 20, "the second process leads")
    assert b.adopted == ["loaxa-hq-xa-hq-a"]  # the stopped instance's MQTT session was taken over
    assert a.events == ["gain", "lose"] and b.events == ["gain"]
    async with b.db.sessions() as s:
        assert list((await s.scalars(select(HqInstance.id))).all()) == ["hq-b"]
    await b.stop()


async def test_a_restarting_instance_waits_for_its_name(postgres_url) -> None:
    """Two processes configured with one name: the second waits (a peer may be taking over its session)."""
    url = await fresh_postgres_db(postgres_url, "coordination_same")
    a, twin = Peer(url, "hq-a"), Peer(url, "hq-a")
    await a.start()
    await twin.db.open()
    waiting = asyncio.ensure_future(twin.coord.start())
    await asyncio.sleep(0.5)
    assert not waiting.done()
    await a.stop()
    await asyncio.wait_for(waiting, 20)  # its name is free now
    await twin.coord.stop()
    await twin.db.close()
