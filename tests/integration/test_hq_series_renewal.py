"""An open-ended recurring series outlives its first command: HQ renews it, the nodes extend it, and the
occurrence after the first command's expiry plays — also on a node that was offline (and lost its broker
session) when HQ renewed it. Real HQ, Mosquitto and edge agents; the horizon is shrunk to seconds.

Before renewal existed, the series' command expired after ``command_ttl_s``: the next occurrence was
acked ``expired_in_queue``, nothing played, and HQ still reported the bulletin ``completed``.
"""

from __future__ import annotations

import asyncio
from datetime import datetime

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from edge_agent.app import EdgeAgent
from loaxa_contract.models import AckStage
from tests.conftest import COMMUNE, require_binary
from tests.hq.fixtures import Hq, hq, start_hq, wait_async  # noqa: F401
from tests.integration.speaker_helpers import FAST, in_s, local_hms

pytestmark = pytest.mark.integration

HORIZON_S, RENEW_BEFORE_S = 20.0, 15.0  # renewed every ~5 s; the first command expires after 20 s


def wipe_session(broker, client_id: str) -> None:
    """Connect with a clean start and no session expiry: the broker forgets the node's queued commands."""
    c = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv5)
    c.username_pw_set(*broker.credentials.hq_login())
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = 0
    c.connect("127.0.0.1", broker.port, 10, clean_start=True, properties=props)
    c.loop_start()
    try:
        c.publish(f"loaxa/v1/{COMMUNE}/none", b"", qos=1).wait_for_publish(10)
    finally:
        c.disconnect()
        c.loop_stop()


async def _state(h: Hq, bid: str) -> dict:
    status, body = await h.call("GET", f"/api/v1/bulletins/{bid}")
    assert status == 200, body
    return body["bulletin"]


async def renewing_hq(start_hq) -> Hq:  # noqa: F811
    """HQ whose open-ended series live HORIZON_S and are renewed RENEW_BEFORE_S before they expire."""
    require_binary("espeak-ng")
    day = 86400.0
    return await start_hq(bulletins={"lead_time_s": 1.0, "sweep_interval_s": 0.2,
                                     "recurrence_horizon_days": HORIZON_S / day,
                                     "recurrence_renew_before_days": RENEW_BEFORE_S / day})


async def daily_series_held_by_a2(h: Hq, plays_at: datetime) -> tuple[str, datetime]:
    """An open-ended daily series to thon-1 at ``plays_at``'s time of day, scheduled on a-2: (id, expiry)."""
    status, body = await h.call("POST", "/api/v1/bulletins", role="broadcaster", json={
        "text": "Nhắc lịch sinh hoạt hằng ngày.", "targets": {"zones": ["thon-1"]},
        "recurrence": {"kind": "daily", "at": local_hms(plays_at)}})
    assert status == 201, body
    await h.wait_delivery(body["bulletin"]["id"], "a-2", "scheduled", timeout=30)
    return body["bulletin"]["id"], datetime.fromisoformat(body["bulletin"]["expires_at"])


async def test_open_ended_series_is_renewed_and_plays_after_its_first_expiry(start_hq, start_agent, tap,  # noqa: F811
                                                                            make_node_config, broker):
    h = await renewing_hq(start_hq)
    a1 = await start_agent("a-1", zones=["thon-1"], **FAST)
    a2 = EdgeAgent(make_node_config("a-2", ["thon-1"], port=broker.port, **FAST))
    await a2.start()
    try:
        await a2.link.wait_ready(15)

        async def both_online() -> bool:
            _, body = await h.call("GET", "/api/v1/nodes", role="technician")
            return sum(n["state"] == "online" for n in body["nodes"]) == 2

        await wait_async(both_online, 20, "two nodes online")
        # after the first command's expiry
        bid, first_expiry = await daily_series_held_by_a2(h, in_s(HORIZON_S + 8))

        await a2.stop()  # a-2 is away (and loses its broker session) while HQ renews the series
        wipe_session(broker, a2.link.config.client_id)

        async def renewed() -> bool:
            return (await _state(h, bid))["renewed_at"] is not None

        await wait_async(renewed, 30, "series renewed")
        held = a1.player.store.get(bid)
        assert held is not None and held.expires_at > first_expiry  # the online node extended it

        a2 = EdgeAgent(a2.config)
        await a2.start()
        await a2.link.wait_ready(15)
        renewal = await wait_async_ack(tap, "a-2", bid, 30)
        assert renewal.reason == "renewed"
        held2 = a2.player.store.get(bid)
        assert held2 is not None and held2.expires_at > first_expiry

        async def both_played() -> bool:
            _, occ = await h.call("GET", f"/api/v1/bulletins/{bid}/occurrences")
            return {o["node"] for o in occ["occurrences"] if o["state"] == "played"} == {"a-1", "a-2"}

        await wait_async(both_played, HORIZON_S + 40, "the occurrence after the first expiry played on both nodes")
        b = await _state(h, bid)
        assert b["state"] == "active" and datetime.fromisoformat(b["expires_at"]) > first_expiry
        assert not [a for a in tap.acks if a.bulletin_id == bid and a.stage == AckStage.EXPIRED]
    finally:
        await a2.stop()


async def test_a_node_away_past_its_copys_expiry_gets_the_renewed_series(start_hq, start_agent, tap,  # noqa: F811
                                                                         make_node_config, broker):
    """A node switched off for longer than its copy of the series lived restarts and drops that copy
    (``expired_before_play``). HQ renewed the series meanwhile: the delivery goes on, the node takes the
    renewal (its id is not remembered as done), and the next occurrence plays there. Before, the node
    refused the renewal as a duplicate and HQ recorded the series expired on it for good."""
    h = await renewing_hq(start_hq)
    agent = await start_agent("a-2", zones=["thon-1"], **FAST)
    config = agent.config

    async def online() -> bool:
        _, body = await h.call("GET", "/api/v1/nodes/a-2", role="technician")
        return body.get("node", {}).get("state") == "online"

    await wait_async(online, 20, "a-2 online")
    # well after the first command's expiry and the node's return
    bid, first_expiry = await daily_series_held_by_a2(h, in_s(HORIZON_S + 30))
    await agent.stop()
    wipe_session(broker, agent.link.config.client_id)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + HORIZON_S + 30
    while datetime.now(first_expiry.tzinfo) <= first_expiry:  # away until its copy has expired
        assert loop.time() < deadline, "the clock never passed the first command's expiry"
        await asyncio.sleep(0.2)

    agent = await start_agent(config=config)
    def expired_acks() -> list:
        return [a for a in tap.acks if a.node == "a-2" and a.bulletin_id == bid and a.stage == AckStage.EXPIRED]

    await wait_async(lambda: _async(bool(expired_acks())), 30, "a-2 dropping its expired copy")
    dropped = expired_acks()
    assert dropped[0].reason == "expired_before_play"

    async def renewed_held() -> bool:
        held = agent.player.store.get(bid)
        return held is not None and held.expires_at > first_expiry

    await wait_async(renewed_held, 30, "a-2 holding the renewed series")

    async def played() -> bool:
        _, occ = await h.call("GET", f"/api/v1/bulletins/{bid}/occurrences")
        return any(o["node"] == "a-2" and o["state"] == "played" for o in occ["occurrences"])

    await wait_async(played, HORIZON_S + 60, "the next occurrence played on a-2")
    d = (await h.deliveries(bid))["a-2"]
    assert d["state"] == "scheduled", d  # the series goes on there
    assert (await _state(h, bid))["state"] == "active"


async def _async(value: bool) -> bool:
    return value


async def wait_async_ack(tap, node: str, bid: str, timeout: float):
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        hit = [a for a in tap.acks if a.node == node and a.bulletin_id == bid and a.reason == "renewed"]
        if hit:
            return hit[-1]
        if loop.time() > deadline:
            raise AssertionError(f"no renewal ack from {node} for {bid}: {[a for a in tap.acks if a.node == node]}")
        await asyncio.sleep(0.05)

