"""HQ is the source of truth for a node's schedule: the bulletin part of the reconnect reconcile.

Real Mosquitto, real in-process EdgeAgents, real HQ app (SQLite). On every (re)connect the node reports
every bulletin id it holds (``NodeHealth.bulletins``); HQ re-sends what is missing and cancels what it no
longer wants (hq_server/services/reconcile.py, docs/hq.md).
"""

from __future__ import annotations

import shutil
import threading

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from sqlalchemy import select

from hq_server.storage.tables import Bulletin, CommandLog
from hq_server.web import DB
from loaxa_contract import topics
from loaxa_contract.models import AckStage
from tests.conftest import COMMUNE, bulletin, wait_until
from tests.hq.fixtures import Hq, hq, start_hq, wait_async  # noqa: F401
from tests.integration.speaker_helpers import FAST, in_s, local_hms, wire

pytestmark = pytest.mark.integration


async def _node_state(h: Hq, node: str) -> str | None:
    _, body = await h.call("GET", f"/api/v1/nodes/{node}", role="technician")
    return body.get("node", {}).get("state")


async def _wait_state(h: Hq, node: str, state: str) -> None:
    async def reached() -> bool:
        return await _node_state(h, node) == state

    await wait_async(reached, 60, f"{node} {state} at HQ")


async def _recurring(h: Hq, targets: dict) -> str:
    """A daily bulletin whose occurrences are hours away: the node holds it (scheduled), nothing plays now."""
    status, body = await h.call("POST", "/api/v1/bulletins", role="broadcaster", json={
        "text": "Lịch thu gom rác hằng ngày.", "targets": targets,
        "recurrence": {"kind": "daily", "at": local_hms(in_s(3 * 3600))}, "expires_at": in_s(2 * 86400).isoformat()})
    assert status == 201, body
    return body["bulletin"]["id"]


async def _commands(h: Hq, bulletin_id: str, command_type: str) -> list[CommandLog]:
    async with h.app[DB].sessions() as s:
        return list((await s.scalars(select(CommandLog).where(
            CommandLog.bulletin_id == bulletin_id, CommandLog.type == command_type)
            .order_by(CommandLog.sent_at))).all())


def _clear_session(broker, client_id: str) -> None:
    """What a broker restart without persistence (or an expired session) does: the queued commands are gone."""
    connected = threading.Event()
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv5)
    client.username_pw_set(*broker.credentials.hq_login())
    client.on_connect = lambda *_: connected.set()
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = 0
    client.connect("127.0.0.1", broker.port, 10, clean_start=True, properties=props)
    client.loop_start()
    try:
        assert connected.wait(10), "no CONNACK while clearing the session"
    finally:
        client.disconnect()
        client.loop_stop()


async def test_node_with_a_replaced_sd_card_gets_its_schedule_back(hq, start_agent, tap):  # noqa: F811
    a1 = await start_agent("a-1", zones=["thon-1"], **FAST)
    await _wait_state(hq, "a-1", "online")

    # a one-off the node plays before its card is replaced: finished, so never sent again (the node's list
    # of finished bulletins goes with the card; a re-send would be played twice)
    status, body = await hq.call("POST", "/api/v1/bulletins", role="broadcaster", json={
        "text": "Mời bà con họp.", "targets": {"nodes": ["a-1"]}})
    assert status == 201, body
    once = body["bulletin"]["id"]
    await hq.wait_delivery(once, "a-1", "played", timeout=30)

    rec = await _recurring(hq, {"zones": ["thon-1"]})
    first = await hq.wait_delivery(rec, "a-1", "scheduled", timeout=20)
    assert rec in a1.player.held() and first["attempts"] == 1

    # SD card replaced while the node is off: same config, empty state directory
    config = a1.config
    await a1.stop()
    await _wait_state(hq, "a-1", "offline")
    shutil.rmtree(config.state_dir)
    a1b = await start_agent(config=config)
    assert a1b.player.held() == []

    # its reconnect report lists nothing: HQ re-sends the recurring bulletin (new command id, same bulletin id)
    again: dict = {}

    async def resent() -> bool:
        nonlocal again
        again = (await hq.deliveries(rec))["a-1"]
        return again["command_id"] != first["command_id"]

    await wait_async(resent, 60, "re-send of the recurring bulletin")
    ack = await tap.wait_stage(again["command_id"], AckStage.SCHEDULED, "a-1", timeout=20)
    assert ack.bulletin_id == rec
    await wait_until(lambda: rec in a1b.player.held(), 10, "a-1 holds the recurring bulletin again")
    assert again["state"] == "scheduled" and again["attempts"] == 2
    assert again["reason"] == "re-sent: missing from the node's reconcile report"
    assert a1b.scheduler.has(rec)

    # exactly one re-send (the online-state path leaves `scheduled` deliveries to the report), and the
    # finished one-off was not sent again
    assert [c.target for c in await _commands(hq, rec, "bulletin")] == ["zone:thon-1", "node:a-1"]
    assert len(await _commands(hq, once, "bulletin")) == 1
    assert once not in a1b.player.held()
    assert len({a.command_id for a in tap.acks if a.bulletin_id == once}) == 1
    d_once = (await hq.deliveries(once))["a-1"]
    assert d_once["state"] == "played" and d_once["attempts"] == 1
    assert hq.orch.metrics.get("loaxa_hq_resends_total") == 1


async def test_cancel_missed_by_an_offline_node_is_sent_again_on_reconnect(hq, start_agent, tap, broker):  # noqa: F811
    a1 = await start_agent("a-1", zones=["thon-1"], **FAST)
    await _wait_state(hq, "a-1", "online")
    rec = await _recurring(hq, {"zones": ["thon-1"]})
    await hq.wait_delivery(rec, "a-1", "scheduled", timeout=20)
    assert rec in a1.player.held()

    config = a1.config
    await a1.stop()
    await _wait_state(hq, "a-1", "offline")
    status, body = await hq.call("POST", f"/api/v1/bulletins/{rec}/cancel", role="broadcaster")
    assert status == 200 and body["bulletin"]["state"] == "cancelled", body
    assert [c.target for c in await _commands(hq, rec, "cancel")] == ["zone:thon-1"]
    # the cancel waited in the node's persistent session; the session is lost (broker data wiped)
    _clear_session(broker, f"loaxa-{COMMUNE}-a-1")
    assert (await hq.deliveries(rec))["a-1"]["state"] == "scheduled"  # the node never confirmed

    a1b = await start_agent(config=config)
    # the node restored the bulletin from its state and reports it held → HQ sends `cancel` to it
    d = await hq.wait_delivery(rec, "a-1", "cancelled", timeout=20)
    cancels = await _commands(hq, rec, "cancel")
    assert [c.target for c in cancels] == ["zone:thon-1", "node:a-1"]
    applied = await tap.wait_stage(cancels[1].id, AckStage.CANCELLED, "a-1", timeout=10)
    assert applied.bulletin_id == rec and applied.detail == "cancel applied"
    assert not tap.for_command(cancels[0].id)  # the original cancel never reached the node
    await wait_until(lambda: rec not in a1b.player.held() and not a1b.scheduler.has(rec), 10, "a-1 dropped it")
    assert d["state"] == "cancelled" and hq.orch.metrics.get("loaxa_hq_reconcile_cancels_total") == 1
    assert len(await _commands(hq, rec, "bulletin")) == 1  # cancelled: never re-sent


async def test_a_bulletin_hq_never_sent_is_not_cancelled_on_the_nodes_word(hq, start_agent, tap, signer):  # noqa: F811
    """HQ cancels only what it sent to that node: an id it has no record of (here published by the test
    with HQ's key, as ``hq-server send`` does outside HQ's records) stays until it expires, and is logged."""
    a1 = await start_agent("a-1", zones=["thon-1"], **FAST)
    await _wait_state(hq, "a-1", "online")
    cmd = bulletin(signer, target="node:a-1", recurrence={"kind": "daily", "at": local_hms(in_s(3 * 3600))})
    await tap.publish(topics.node_cmd(COMMUNE, "a-1"), wire(cmd))
    await tap.wait_stage(cmd["id"], AckStage.SCHEDULED, "a-1", timeout=20)
    config = a1.config
    await a1.stop()
    await _wait_state(hq, "a-1", "offline")
    reconciles = hq.orch.metrics.get("loaxa_hq_reconciles_total")
    a1b = await start_agent(config=config)
    await wait_until(lambda: hq.orch.metrics.get("loaxa_hq_reconciles_total") > reconciles, 60, "reconcile report")
    assert cmd["bulletin_id"] in a1b.player.held()
    assert AckStage.CANCELLED not in tap.stages(cmd["id"], "a-1")
    assert hq.orch.metrics.get("loaxa_hq_reconcile_cancels_total") == 0
    assert hq.orch.metrics.get("loaxa_hq_reconcile_unknown_ids_total") == 1


async def test_node_back_online_gets_one_resend_from_two_triggers(hq, start_agent, tap):  # noqa: F811
    """Its `online` state and its reconnect report both ask for the missing bulletin: it is sent once."""
    await hq.add_zones("thon-2")
    status, body = await hq.call("PUT", "/api/v1/nodes/b-1", role="technician", json={"zones": ["thon-2"]})
    assert status == 201, body
    status, body = await hq.call("POST", "/api/v1/bulletins", role="broadcaster", json={
        "text": "Mời bà con họp.", "targets": {"nodes": ["b-1"]}})
    assert status == 201, body
    bid = body["bulletin"]["id"]  # sent while b-1 has never connected: no session holds it

    b1 = await start_agent("b-1", zones=["thon-2"], **FAST)
    await wait_until(lambda: hq.orch.metrics.get("loaxa_hq_reconciles_total") >= 1, 60, "b-1's reconcile report")
    d = await hq.wait_delivery(bid, "b-1", "played", timeout=30)
    assert [c.target for c in await _commands(hq, bid, "bulletin")] == ["node:b-1", "node:b-1"]
    assert d["attempts"] == 2 and hq.orch.metrics.get("loaxa_hq_resends_total") == 1
    assert [a.stage for a in tap.acks if a.bulletin_id == bid].count(AckStage.PLAYED) == 1
    assert bid not in b1.player.held()


async def test_a_broadcast_still_being_sent_is_neither_cancelled_nor_re_sent_by_a_reconcile(hq):  # noqa: F811
    """A stalled broker holds a broadcast ``sending`` (HQ resumes it under new command ids). A node that
    reconnects meanwhile may hold an old copy: it must not be cancelled (the node then reported it
    cancelled and played the resumed copy); one the node lacks is the dispatcher's to send."""
    await hq.add_zones("thon-1")
    status, body = await hq.call("PUT", "/api/v1/nodes/a-1", role="technician", json={"zones": ["thon-1"]})
    assert status == 201, body
    bid = await _recurring(hq, {"nodes": ["a-1"]})
    await hq.wait_bulletin(bid, "active")
    async with hq.app[DB].sessions() as s:
        b = await s.get(Bulletin, bid)
        b.state = "sending"
        await s.commit()
    assert await hq.orch.reconcile_node("a-1", [bid]) == (0, 0)  # held: not cancelled
    assert await hq.orch.reconcile_node("a-1", []) == (0, 0)  # missing: not re-sent here
    assert not await _commands(hq, bid, "cancel")
    assert len(await _commands(hq, bid, "bulletin")) == 1
