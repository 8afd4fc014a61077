"""Programme and volume from HQ's desired state to real edge agents (real Mosquitto, in-process agents):
acks tracked, zone vs node precedence, re-send when a node comes online, re-send on a drifted reconcile report.
"""

from __future__ import annotations

import pytest

from loaxa_contract import codec, topics
from loaxa_contract.models import NodeHealth
from tests.conftest import COMMUNE, wait_until
from tests.hq.fixtures import Hq, hq, start_hq, wait_async  # noqa: F401

pytestmark = pytest.mark.integration

PROGRAMME = {"windows": [{"start": "05:30", "end": "06:30"}, {"start": "21:00", "end": "01:00", "days": [5, 6]}],
             "quiet_start": "01:30", "quiet_end": "05:00"}


async def _settings(h: Hq) -> dict[tuple[str, str], dict]:
    _, body = await h.call("GET", "/api/v1/settings", role="technician")
    return {(r["node"], r["kind"]): r for r in body["nodes"]}


async def _wait_applied(h: Hq, node: str, kind: str, not_command: str | None = None) -> dict:
    row: dict = {}

    async def applied() -> bool:
        nonlocal row
        row = (await _settings(h)).get((node, kind), {})
        return row.get("state") == "applied" and row.get("command_id") != not_command

    await wait_async(applied, 30, f"{kind} applied on {node}")
    return row


async def test_programme_and_volume_reach_nodes_and_are_reconciled(hq, start_agent, tap):  # noqa: F811
    a1 = await start_agent("a-1", zones=["thon-1"])
    await hq.add_zones("thon-1")
    status, body = await hq.call("PUT", "/api/v1/nodes/b-1", role="technician", json={"zones": ["thon-1"]})
    assert status == 201, body
    await wait_async(lambda: _online(hq, "a-1"), 20, "a-1 online")

    status, body = await hq.call("PUT", "/api/v1/zones/thon-1/programme", role="broadcaster", json=PROGRAMME)
    assert status == 200 and body["overnight"] == [1], body
    prog = await _wait_applied(hq, "a-1", "programme")
    assert prog["source"] == "zone:thon-1" and a1.player.programme.source_id == prog["command_id"]
    assert [(w.start.isoformat(), w.end.isoformat()) for w in a1.player.programme.windows] == [
        ("05:30:00", "06:30:00"), ("21:00:00", "01:00:00")]
    assert (await _settings(hq))[("b-1", "programme")]["state"] == "sent"  # offline: waits for it

    # the node's own volume wins over the zone's
    assert (await hq.call("PUT", "/api/v1/nodes/a-1/volume", role="technician", json={"volume": 40}))[0] == 200
    vol = await _wait_applied(hq, "a-1", "volume")
    assert a1.player.volume == 40 and vol["source"] == "node:a-1"
    status, body = await hq.call("PUT", "/api/v1/zones/thon-1/volume", role="technician", json={"volume": 70})
    assert status == 200, body
    rows = await _settings(hq)
    assert rows[("a-1", "volume")]["command_id"] == vol["command_id"] and rows[("b-1", "volume")]["state"] == "sent"

    # b-1 comes online: HQ sends what it has not applied
    b1 = await start_agent("b-1", zones=["thon-1"])
    b_prog = await _wait_applied(hq, "b-1", "programme")
    b_vol = await _wait_applied(hq, "b-1", "volume")
    assert b1.player.programme.source_id == b_prog["command_id"] and b1.player.volume == 70
    assert b_prog["attempts"] >= 2 and b_vol["value"] == {"volume": 70}

    # a reconnect report that disagrees with HQ (programme replaced locally) → programme re-sent, volume left alone
    report = NodeHealth(node="a-1", uptime_s=5, volume=40, bulletins=[], programme_id="local-config")
    await tap.publish(topics.node_health(COMMUNE, "a-1"), codec.encode(report))
    again = await _wait_applied(hq, "a-1", "programme", not_command=prog["command_id"])
    assert a1.player.programme.source_id == again["command_id"]
    assert (await _settings(hq))[("a-1", "volume")]["command_id"] == vol["command_id"]
    await wait_until(lambda: a1.player.programme.source_id == again["command_id"], 10, "a-1 programme")


async def _online(h: Hq, node: str) -> bool:
    _, body = await h.call("GET", f"/api/v1/nodes/{node}", role="technician")
    return body.get("node", {}).get("state") == "online"
