"""HQ's record of a bulletin a power cut interrupted on a node: the interruption, then what followed.

Real Mosquitto, HQ and EdgeAgents in process; the "power cut" drops the node's TCP connection without
DISCONNECT and stops it where it is (the run record says "playing"), as ``kill -9`` would.
"""

from __future__ import annotations

import pytest

from tests.hq.fixtures import Hq, hq, start_hq, wait_async  # noqa: F401
from tests.integration.speaker_helpers import FAST, in_s, local_hms

pytestmark = pytest.mark.integration

LONG = "Thông báo của Ủy ban nhân dân xã về lịch tiêm phòng cho đàn gia súc trong thôn. " * 3


async def _online(h: Hq, node: str) -> None:
    async def check() -> bool:
        _, body = await h.call("GET", "/api/v1/nodes", role="technician")
        return any(n["id"] == node and n["state"] == "online" for n in body["nodes"])

    await wait_async(check, 20, f"{node} online")


async def power_cut(agent) -> None:
    await agent.link.kill()
    await agent.stop()


async def test_delivery_shows_the_interruption_and_the_replay(hq, start_agent):  # noqa: F811
    agent = await start_agent("a-1", zones=["thon-1"], **FAST)
    await _online(hq, "a-1")
    status, body = await hq.call("POST", "/api/v1/bulletins", role="broadcaster", json={
        "text": LONG, "targets": {"nodes": ["a-1"]}, "expires_at": in_s(300).isoformat()})
    assert status == 201, body
    bid = body["bulletin"]["id"]
    await hq.wait_delivery(bid, "a-1", "playing")
    await power_cut(agent)

    await start_agent(config=agent.config)
    cut = await hq.wait_delivery(bid, "a-1", "interrupted")
    assert cut["reason"] == "interrupted"
    final = await hq.wait_delivery(bid, "a-1", "played", timeout=90)
    assert final["reason"] == "replayed after an interruption"


async def test_an_interrupted_occurrence_is_not_left_playing(hq, start_agent):  # noqa: F811
    agent = await start_agent("a-1", zones=["thon-1"], **{**FAST, "schedule__misfire_grace_s": 60})
    await _online(hq, "a-1")
    status, body = await hq.call("POST", "/api/v1/bulletins", role="broadcaster", json={
        "text": LONG, "targets": {"nodes": ["a-1"]},
        "recurrence": {"kind": "daily", "at": local_hms(in_s(3))}, "expires_at": in_s(240).isoformat()})
    assert status == 201, body
    bid = body["bulletin"]["id"]
    rows: list[dict] = []

    async def occurrence(state: str) -> bool:
        nonlocal rows
        _, got = await hq.call("GET", f"/api/v1/bulletins/{bid}/occurrences")
        rows = got["occurrences"]
        return any(o["state"] == state for o in rows)

    await wait_async(lambda: occurrence("playing"), 30, "the occurrence is playing")
    await power_cut(agent)

    await start_agent(config=agent.config)
    await wait_async(lambda: occurrence("played"), 90, "the occurrence replayed")
    assert len(rows) == 1 and rows[0]["reason"] == "replayed after an interruption"
    assert (await hq.deliveries(bid))["a-1"]["state"] == "scheduled"  # the series goes on
