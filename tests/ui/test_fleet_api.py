"""API routes of the technician's pages: a node's health history and the live fleet stream (real HQ)."""

from __future__ import annotations

import json
from datetime import timedelta

from hq_server.storage.tables import Node, NodeEvent, NodeSample, now
from hq_server.web import DB
from tests.hq.fixtures import Hq


async def test_node_history_series_and_availability(hq: Hq) -> None:
    t = now()
    async with hq.app[DB].sessions() as s:
        s.add(Node(id="loa-1", zones=["thon-1"], state="online", state_since=t - timedelta(hours=2)))
        s.add_all([NodeEvent(node_id="loa-1", at=t - timedelta(hours=30), event="online"),
                   NodeEvent(node_id="loa-1", at=t - timedelta(hours=6), event="offline"),
                   NodeEvent(node_id="loa-1", at=t - timedelta(hours=3), event="online")])
        s.add_all([NodeSample(node_id="loa-1", at=t - timedelta(minutes=m), cpu_temp_c=40.0 + m / 10,
                              disk_free_bytes=5 * 1024 ** 3, volume=80) for m in range(0, 120, 10)])
        s.add(NodeSample(node_id="loa-1", at=t - timedelta(days=3), cpu_temp_c=30.0))
        await s.commit()
    status, day = await hq.call("GET", "/api/v1/nodes/loa-1/history?span=24h", role="technician")
    assert status == 200, day
    assert len(day["series"]["t"]) == 288 and len(day["series"]["cpu_temp_c"]) == 288
    assert day["samples"] == 12 and sum(v is not None for v in day["series"]["cpu_temp_c"]) >= 12 // 2
    assert 86 <= day["availability"]["uptime_percent"] <= 88  # 3 h offline of 24
    assert day["availability"]["disconnects"] == 1
    assert [e["event"] for e in day["events"]] == ["online", "offline"]
    _, week = await hq.call("GET", "/api/v1/nodes/loa-1/history?span=7d", role="technician")
    assert len(week["series"]["t"]) == 168 and week["samples"] == 13 and week["availability"]["unknown_s"] > 0
    assert (await hq.call("GET", "/api/v1/nodes/loa-1/history?span=1y", role="technician"))[0] == 400
    assert (await hq.call("GET", "/api/v1/nodes/ghost/history", role="technician"))[0] == 404
    assert (await hq.call("GET", "/api/v1/nodes/loa-1/history", role="police"))[0] == 403


async def test_fleet_stream_sends_the_node_list(hq: Hq) -> None:
    await hq.add_zones("thon-2")
    async with hq.app[DB].sessions() as s:
        s.add(Node(id="loa-2", zones=["thon-2"], state="offline", state_since=now()))
        await s.commit()
    async with hq.client.get("/api/v1/events/fleet", headers=hq.headers("technician")) as resp:
        assert resp.status == 200 and resp.content_type == "text/event-stream"
        name = (await resp.content.readline()).decode().strip()
        data = json.loads((await resp.content.readline()).decode().removeprefix("data: "))
    assert name == "event: nodes"
    assert data["counts"]["offline"] == 1 and data["nodes"][0]["id"] == "loa-2"
    assert data["nodes"][0]["state_text"] == "Mất kết nối" and data["nodes"][0]["villages"] == "Thôn 2"
    status, _ = await hq.call("GET", "/api/v1/events/fleet", role="police")
    assert status == 403
