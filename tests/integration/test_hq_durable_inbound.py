"""Durable inbound: an ack HQ received but had not recorded is never lost, whatever stops HQ.

A real ``hq-server run`` process against the test Mosquitto, on SQLite. 100 loudspeakers (hand-made node
clients, each with its own broker login) ack a bulletin ``received`` → ``played`` while the test holds
the database's write lock, so HQ has read every ack from the broker but can record none (what a busy or
slow disk does). Then HQ is killed (``kill -9``, or a clean SIGTERM). The first HQ acknowledged each
message to the broker on arrival and lost whatever sat in its memory; here the broker must deliver every
unrecorded ack again to the restarted HQ, and every delivery ends ``played``.
"""

from __future__ import annotations

import asyncio
import signal
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest

from loaxa_contract import codec, topics
from loaxa_contract.models import Ack, AckStage
from loaxa_link.mqtt import MqttLink
from tests.conftest import COMMUNE, node_link_config
from tests.hq.fixtures import wait_async
from tests.integration.hq_process import HqProcess, api, seed

pytestmark = pytest.mark.integration

NODES = {f"loa-{i:03d}": f"thon-{i % 4}" for i in range(100)}
STAGES = (AckStage.RECEIVED, AckStage.SCHEDULED, AckStage.PLAYING, AckStage.PLAYED)


async def _node_links(broker, node_logins) -> dict[str, MqttLink]:
    node_logins.ensure({n: [z] for n, z in NODES.items()})
    links = {n: MqttLink(node_link_config(broker, node_logins, n, client_id=f"{n}-acks")) for n in NODES}
    await asyncio.gather(*(link.start() for link in links.values()))
    await asyncio.gather(*(link.wait_ready(30) for link in links.values()))
    return links


async def _ack_everything(links: dict[str, MqttLink], bulletin_id: str, command_of: dict[str, str]) -> None:
    """Each node acks every stage; returns once the broker took every ack (PUBACK)."""
    async def one(node: str, link: MqttLink) -> None:
        for stage in STAGES:
            extra = {}
            if stage == AckStage.PLAYED:
                t = datetime.now(UTC)
                extra = {"started_at": t, "ended_at": t, "duration_s": 2.5}
            ack = Ack(node=node, command_id=command_of[node], bulletin_id=bulletin_id, stage=stage, **extra)
            await link.publish(topics.node_ack(COMMUNE, node), codec.encode(ack))

    await asyncio.gather(*(one(n, link) for n, link in links.items()))


def _played(db: Path, bulletin_id: str) -> int:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT count(*) FROM deliveries WHERE bulletin_id = ? AND state = 'played'",
                            (bulletin_id,)).fetchone()[0]


@pytest.mark.parametrize("stop_signal", [signal.SIGKILL, signal.SIGTERM], ids=["kill-9", "sigterm"])
async def test_acks_received_but_not_recorded_survive_hq_being_stopped(tmp_path, broker, node_logins, hq_keys,
                                                                        stop_signal):
    db = tmp_path / "hq.sqlite3"
    url = f"sqlite+aiosqlite:///{db}"
    token = await seed(url, NODES)
    hq = HqProcess(tmp_path / "hq", broker, hq_keys[0], url)
    hq.start()
    links: dict[str, MqttLink] = {}
    lock: sqlite3.Connection | None = None
    try:
        await hq.wait_ready()
        links = await _node_links(broker, node_logins)
        status, body = await api(hq.url, token, "POST", "/api/v1/bulletins", json={
            "text": "Thông báo lịch tiêm phòng cho trẻ em.", "targets": {"zones": sorted(set(NODES.values()))}})
        assert status == 201, body
        bid = body["bulletin"]["id"]

        async def dispatched() -> bool:
            status, body = await api(hq.url, token, "GET", f"/api/v1/bulletins/{bid}/deliveries")
            return status == 200 and len(body["deliveries"]) == len(NODES) and body["state"] == "active"

        await wait_async(dispatched, 30, "bulletin sent to every node")
        _, body = await api(hq.url, token, "GET", f"/api/v1/bulletins/{bid}/deliveries")
        command_of = {d["node"]: d["command_id"] for d in body["deliveries"]}

        lock = sqlite3.connect(db, isolation_level=None, timeout=30)
        lock.execute("BEGIN EXCLUSIVE")  # HQ can read but not write: every ack stays unrecorded
        async with aiohttp.ClientSession() as http:
            before = (await hq.metrics(http)).get("loaxa_hq_inbound_received_total", 0)
            await _ack_everything(links, bid, command_of)

            async def all_in_hq() -> bool:
                got = (await hq.metrics(http)).get("loaxa_hq_inbound_received_total", 0)
                return got - before >= len(NODES) * len(STAGES)

            await wait_async(all_in_hq, 30, "HQ to receive every ack")
        hq.kill(stop_signal)
        lock.execute("ROLLBACK")
        lock.close()
        lock = None
        hq.wait_exit()
        recorded_before = _played(db, bid)
        print(f"{stop_signal.name}: {recorded_before}/{len(NODES)} played recorded when HQ stopped")
        assert recorded_before == 0  # nothing could be written: everything rests on the broker's copy

        hq.start()  # same client id, same persistent session: the broker delivers what was never acknowledged
        await hq.wait_ready()

        async def all_played() -> bool:
            return _played(db, bid) == len(NODES)

        await wait_async(all_played, 60, "every played ack recorded after the restart")
        status, body = await api(hq.url, token, "GET", f"/api/v1/bulletins/{bid}")
        assert body["bulletin"]["state"] == "completed" and body["bulletin"]["delivery_summary"] == {"played": 100}
    finally:
        if lock is not None:
            lock.close()
        await asyncio.gather(*(link.stop() for link in links.values()), return_exceptions=True)
        hq.stop()
