"""HQ is the authority for zone membership: a node moved to another village at HQ is told (signed
``set_zones``), re-subscribes, keeps the assignment across a restart, and gets it back after losing its state.
Real HQ, Mosquitto and edge agents.

Before: the node kept listening to its configured zone, the next bulletin to its new zone never reached it,
and its next state message put HQ's record back.
"""

from __future__ import annotations

import shutil

import pytest

from edge_agent.app import EdgeAgent
from hq_server.broker_zones import membership_hooks, zone_acl_hook
from hq_server.web import MEMBERSHIP
from loaxa_contract import topics
from tests.conftest import COMMUNE, require_binary
from tests.hq.fixtures import Hq, hq, start_hq, wait_async  # noqa: F401
from tests.integration.speaker_helpers import FAST

pytestmark = pytest.mark.integration


async def _node(h: Hq, node: str) -> dict:
    status, body = await h.call("GET", f"/api/v1/nodes/{node}", role="technician")
    assert status == 200, body
    return body["node"]


async def _zones_row(h: Hq, node: str) -> dict:
    _, body = await h.call("GET", "/api/v1/settings", role="technician")
    return next((r for r in body["nodes"] if r["node"] == node and r["kind"] == "zones"), {})


async def _post(h: Hq, zone: str) -> str:
    status, body = await h.call("POST", "/api/v1/bulletins", role="broadcaster", json={
        "text": f"Thông báo cho {zone}.", "targets": {"zones": [zone]}})
    assert status == 201, body
    return body["bulletin"]["id"]


async def _online(h: Hq, node: str) -> None:
    async def check() -> bool:  # 404 until HQ has recorded the node's birth
        status, body = await h.call("GET", f"/api/v1/nodes/{node}", role="technician")
        return status == 200 and body["node"]["state"] == "online"

    await wait_async(check, 30, f"{node} online")


async def test_node_moved_at_hq_listens_to_its_new_zone_and_keeps_it(hq, make_node_config, broker, tap,  # noqa: F811
                                                                     broker_credentials):
    require_binary("espeak-ng")
    # the test broker is external to HQ: the same hook an embedded broker gets keeps its ACL in step
    hq.app[MEMBERSHIP].hooks.append(zone_acl_hook(broker_credentials, broker.data_dir))
    await hq.add_zones("thon-1", "thon-2")
    assert (await hq.call("PUT", "/api/v1/zones/thon-2/volume", role="technician", json={"volume": 35}))[0] == 200
    cfg = make_node_config("a-1", ["thon-1"], port=broker.port, **FAST)  # its own claim: thon-1
    agent = EdgeAgent(cfg)
    await agent.start()
    try:
        await agent.link.wait_ready(15)
        await _online(hq, "a-1")
        assert (await _node(hq, "a-1"))["zones_source"] == "node"

        # moved to thon-2 at HQ, and a bulletin for thon-2 sent at once (before the node has re-subscribed)
        status, body = await hq.call("PUT", "/api/v1/nodes/a-1", role="technician", json={"zones": ["Thôn 2"]})
        assert status == 200 and body["node"]["zones"] == ["thon-2"] and body["node"]["zones_source"] == "hq", body
        first = await _post(hq, "thon-2")
        await hq.wait_delivery(first, "a-1", "played")

        async def applied() -> bool:
            return (await _zones_row(hq, "a-1")).get("state") == "applied"

        await wait_async(applied, 30, "zones applied on a-1")
        assert agent.zones == ["thon-2"] and agent.gate.zones == ["thon-2"]
        subs = agent.link.config.subscriptions
        assert topics.zone_cmd(COMMUNE, "thon-2") in subs and topics.zone_cmd(COMMUNE, "thon-1") not in subs
        assert (await _node(hq, "a-1"))["reported_zones"] == ["thon-2"]

        async def new_zone_volume() -> bool:  # its effective settings follow it to the new zone at once
            _, body = await hq.call("GET", "/api/v1/settings", role="technician")
            row = next((r for r in body["nodes"] if r["node"] == "a-1" and r["kind"] == "volume"), {})
            return row.get("source") == "zone:thon-2" and row.get("state") == "applied"

        await wait_async(new_zone_volume, 30, "thon-2's volume applied on a-1")
        assert agent.player.volume == 35

        old_zone = await _post(hq, "thon-1")
        assert "a-1" not in await hq.deliveries(old_zone)

        # a restart: the node comes back in thon-2 (its configuration still says thon-1), HQ's record holds
        await agent.stop()
        agent = EdgeAgent(cfg)
        await agent.start()
        await agent.link.wait_ready(15)
        await _online(hq, "a-1")
        assert agent.zones == ["thon-2"]
        node = await _node(hq, "a-1")
        assert node["zones"] == ["thon-2"] and node["reported_zones"] == ["thon-2"], node
        again = await _post(hq, "thon-2")
        await hq.wait_delivery(again, "a-1", "played")
        assert not [a for a in tap.acks if a.node == "a-1" and a.bulletin_id == old_zone]  # never heard thon-1's

        # state wiped (new SD card): the node claims thon-1 again; HQ sends its assignment again
        await agent.stop()
        shutil.rmtree(cfg.state_dir)
        agent = EdgeAgent(cfg)
        await agent.start()
        await agent.link.wait_ready(15)

        async def restored() -> bool:
            return agent.zones == ["thon-2"] and (await _zones_row(hq, "a-1")).get("state") == "applied"

        await wait_async(restored, 30, "HQ's zones restored on a node that lost its state")
        assert (await _node(hq, "a-1"))["zones"] == ["thon-2"]
    finally:
        await agent.stop()


async def test_embedded_broker_acl_follows_the_assignment(tmp_path):
    """HQ's own broker: the membership hook rewrites the node's zones in the credential store and its ACL."""
    from hq_server.broker import broker_dir, credential_store
    from hq_server.config import HqConfig

    cfg = HqConfig.model_validate({"commune": COMMUNE, "data_dir": str(tmp_path / "hq")})
    store = credential_store(cfg)
    store.add_node("a-1", ["thon-1"])
    (hook,) = membership_hooks(cfg)
    await hook("a-1", ["thon-2"])
    assert store.get("a-1").zones == ("thon-2",)  # type: ignore[union-attr]
    acl = (broker_dir(cfg) / "acl").read_text()  # written for the broker's next start (none runs here)
    assert topics.zone_cmd(COMMUNE, "thon-2") in acl and topics.zone_cmd(COMMUNE, "thon-1") not in acl
    await hook("ghost", ["thon-2"])  # no login issued yet: logged, nothing fails
