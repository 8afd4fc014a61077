"""Done-when for HQ: a bulletin created through the REST API reaches real edge agents in two zones.

Real Mosquitto, real EdgeAgents (in process), real espeak-ng; HQ on SQLite here (PostgreSQL in
tests/hq/test_storage.py and the postgres-marked variant below). One node is offline at send time and
comes back before expiry (HQ re-sends on its ``online`` state); one never comes back (``offline``).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from loaxa_contract.models import AckStage
from tests.hq.fixtures import Hq, fresh_postgres_db, hq, postgres_url, start_hq  # noqa: F401

pytestmark = pytest.mark.integration


async def _nodes_online(h: Hq, *names: str, timeout: float = 20.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    seen: set[str] = set()
    while loop.time() < deadline:
        _, body = await h.call("GET", "/api/v1/nodes", role="technician")
        seen = {n["id"] for n in body["nodes"] if n["state"] == "online"}
        if set(names) <= seen:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"nodes online: {seen}, expected {names}")


async def _scenario(hq: Hq, start_agent, tap) -> None:  # noqa: F811
    await start_agent("a-1", zones=["thon-1"])
    await start_agent("a-2", zones=["thon-1"])
    await start_agent("b-1", zones=["thon-2"])
    # registered by a technician, not running yet: b-2 comes back later, a-9 never does
    await hq.add_zones("thon-1", "thon-2")
    for node, zone in (("b-2", "thon-2"), ("a-9", "thon-1")):
        status, body = await hq.call("PUT", f"/api/v1/nodes/{node}", role="technician",
                                     json={"zones": [zone], "location": "Nhà văn hoá", "lat": 21.0, "lon": 105.8})
        assert status == 201, body
    await _nodes_online(hq, "a-1", "a-2", "b-1")

    expires = datetime.now(UTC) + timedelta(seconds=25)
    status, body = await hq.call("POST", "/api/v1/bulletins", role="broadcaster", json={
        "title": "Thông báo", "text": "Thông báo thử nghiệm của Ủy ban nhân dân xã.", "priority": "priority",
        "targets": {"zones": ["thon-1", "thon-2"]}, "expires_at": expires.isoformat()})
    assert status == 201, body
    assert body["bulletin"]["state"] in ("scheduled", "sending", "active")  # the POST does not wait for the send
    b = await hq.wait_bulletin(body["bulletin"]["id"], "active")
    assert len(b["audio_sha256"]) == 64
    bid = b["id"]

    first = await hq.deliveries(bid)
    assert set(first) == {"a-1", "a-2", "b-1", "b-2", "a-9"}
    assert first["b-2"]["state"] == "pending" and "offline" in first["b-2"]["reason"]

    played = {n: await hq.wait_delivery(bid, n, "played") for n in ("a-1", "a-2", "b-1")}
    # synchronised zone start: same play_at, so the loudspeakers of a zone start together
    starts = [datetime.fromisoformat(played[n]["started_at"]) for n in ("a-1", "a-2")]
    assert abs((starts[0] - starts[1]).total_seconds()) < 0.5
    assert AckStage.SCHEDULED in tap.stages(played["a-1"]["command_id"], "a-1")
    # the node played HQ's rendering (fetched by hash from /audio/{sha256}), not a local synthesis
    rendered = [a for a in tap.acks if a.node == "a-1" and a.bulletin_id == bid and a.stage == AckStage.RENDERED]
    assert rendered and (rendered[0].detail or "").startswith("hq-audio " + b["audio_sha256"][:12]), rendered

    await start_agent("b-2", zones=["thon-2"])  # back before expiry: HQ re-sends on its online state
    late = await hq.wait_delivery(bid, "b-2", "played")
    assert late["attempts"] >= 2

    ghost = await hq.wait_delivery(bid, "a-9", "offline", timeout=40)
    assert ghost["reason"] == "node offline until expiry"

    # never report success without a played ack from that very node
    final = await hq.deliveries(bid)
    for node, d in final.items():
        if d["state"] == "played":
            assert any(a.node == node and a.bulletin_id == bid and a.stage == AckStage.PLAYED for a in tap.acks)
    assert {n: d["state"] for n, d in final.items()} == {
        "a-1": "played", "a-2": "played", "b-1": "played", "b-2": "played", "a-9": "offline"}
    _, body = await hq.call("GET", f"/api/v1/bulletins/{bid}")
    assert body["bulletin"]["state"] == "completed"
    assert body["bulletin"]["delivery_summary"] == {"played": 4, "offline": 1}

    status, report = await hq.call("GET", "/api/v1/reports/broadcasts?group=zone", role="technician")
    rows = {r["zone"]: r for r in report["rows"]}
    assert rows["thon-1"]["plays"] == 2 and rows["thon-1"]["failures"] == 1 and rows["thon-2"]["plays"] == 2
    assert rows["thon-2"]["minutes_played"] > 0


async def test_bulletin_reaches_two_zones_with_late_and_lost_nodes(hq, start_agent, tap):  # noqa: F811
    await _scenario(hq, start_agent, tap)


@pytest.mark.postgres
async def test_same_on_postgresql(start_hq, start_agent, tap, postgres_url):  # noqa: F811
    url = await fresh_postgres_db(postgres_url, "hq_delivery")
    await _scenario(await start_hq(url), start_agent, tap)


async def test_cancel_through_the_api_stops_playback(hq, start_agent, tap):  # noqa: F811
    await start_agent("a-1", zones=["thon-1"])
    await _nodes_online(hq, "a-1")
    status, body = await hq.call("POST", "/api/v1/bulletins", role="broadcaster", json={
        "text": "Thông báo dài. " * 30, "targets": {"nodes": ["a-1"]}})
    assert status == 201, body
    bid = body["bulletin"]["id"]
    await hq.wait_delivery(bid, "a-1", "playing")
    status, body = await hq.call("POST", f"/api/v1/bulletins/{bid}/cancel", role="broadcaster")
    assert status == 200 and body["bulletin"]["state"] == "cancelled"
    d = await hq.wait_delivery(bid, "a-1", "cancelled")
    assert d["state"] == "cancelled"
