"""Dispatch off the request at fleet size, and a broadcast left half-published (real HQ, real Mosquitto, SQLite).

No edge agents: 5 000 loudspeakers are registry rows, and a subscriber on the command topics counts what
the broker actually carries.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert, select

from hq_server.storage.tables import CommandLog, Delivery, Node, Zone, now
from hq_server.web import DB
from loaxa_link.mosquitto import Mosquitto
from loaxa_link.mqtt import LinkConfig, MqttLink
from tests.conftest import COMMUNE, wait_until
from tests.hq.fixtures import Hq

ZONES = [f"thon-{z}" for z in range(20)]
TEXT = "Ủy ban nhân dân xã thông báo lịch tiêm phòng cho trẻ em."


class CommandTap:
    """Every command the broker delivers on the commune's zone/node/all topics."""

    def __init__(self, broker: Mosquitto) -> None:
        user, password = broker.credentials.hq_login()
        filters = [f"loaxa/v1/{COMMUNE}/zone/+/cmd", f"loaxa/v1/{COMMUNE}/node/+/cmd", f"loaxa/v1/{COMMUNE}/all/cmd"]
        self.commands: list[dict[str, Any]] = []
        self.link = MqttLink(LinkConfig(port=broker.port, client_id=f"cmd-tap-{uuid.uuid4().hex[:6]}", username=user,
                                        password=password, subscriptions=filters), on_message=self._feed)

    def _feed(self, topic: str, payload: bytes) -> None:
        self.commands.append(json.loads(payload))

    def of(self, bulletin_id: str, kind: str = "bulletin") -> list[dict[str, Any]]:
        return [c for c in self.commands if c.get("bulletin_id") == bulletin_id and c["type"] == kind]


async def _registry(hq: Hq, n: int) -> dict[str, str]:
    """``n`` registered nodes over 20 zones, every 10th a camera-only node; returns speaker → zone."""
    t = now()
    rows = [{"id": f"loa-{i:05d}", "zones": [ZONES[i % 20]], "kind": "camera" if i % 10 == 0 else "speaker",
             "state": "online" if i % 7 else "offline", "state_since": t, "registered": True} for i in range(n)]
    async with hq.app[DB].sessions() as s:
        await s.execute(insert(Zone), [{"slug": z, "name": f"Thôn {z[5:]}", "created_by": "test", "created_at": t,
                                        "updated_at": t} for z in ZONES])
        await s.execute(insert(Node), rows)
        await s.commit()
    return {r["id"]: r["zones"][0] for r in rows if r["kind"] == "speaker"}


async def _tap(broker: Mosquitto) -> CommandTap:
    tap = CommandTap(broker)
    await tap.link.start()
    await tap.link.wait_ready(10)
    return tap


async def test_post_answers_at_once_and_every_speaker_gets_one_delivery(hq: Hq, broker: Mosquitto):
    speakers = await _registry(hq, 5000)
    tap = await _tap(broker)
    try:
        started = time.perf_counter()
        status, body = await hq.call("POST", "/api/v1/bulletins", role="broadcaster",
                                     json={"text": TEXT, "targets": {"zones": ZONES}})
        answered = time.perf_counter() - started
        assert status == 201, body
        bid = body["bulletin"]["id"]
        assert body["bulletin"]["state"] in ("scheduled", "sending", "active")
        b = await hq.wait_bulletin(bid, "active")
        print(f"POST answered in {answered * 1000:.0f} ms; active {(time.perf_counter() - started) * 1000:.0f} ms "
              "after the POST (5 000 nodes, 20 zones)")
        await wait_until(lambda: len(tap.of(bid)) >= 20, 20, "20 zone commands on the broker")
    finally:
        await tap.link.stop()
    got = tap.of(bid)
    assert sorted(c["target"] for c in got) == sorted(f"zone:{z}" for z in ZONES)  # one command per zone
    assert {datetime.fromisoformat(c["play_at"]) for c in got} == {datetime.fromisoformat(b["play_at"])}
    async with hq.app[DB].sessions() as s:
        deliveries = (await s.execute(select(Delivery.node_id, Delivery.command_id, Delivery.state,
                                             Delivery.reason))).all()
        logged = {c.id: c for c in (await s.scalars(select(CommandLog).where(CommandLog.bulletin_id == bid))).all()}
    assert {d.node_id for d in deliveries} == set(speakers)  # every speaker once; camera-only nodes never
    for node, command_id, state, reason in deliveries:
        assert state == "pending" and logged[command_id].target == f"zone:{speakers[node]}"
        assert (reason is None) == (int(node[4:]) % 7 != 0)  # offline nodes are told apart
    last_published = max(c.published_at for c in logged.values() if c.published_at is not None)
    assert all(c.published_at is not None for c in logged.values())
    lead = hq.orch.dispatcher.s.start.lead_s
    assert datetime.fromisoformat(b["play_at"]) >= last_published + timedelta(seconds=lead)
    assert hq.orch.metrics.get("loaxa_hq_start_lead_short_total") == 0


async def test_a_broadcast_left_sending_publishes_only_what_the_broker_never_took(hq: Hq, broker: Mosquitto):
    await _registry(hq, 200)
    dispatcher = hq.orch.dispatcher
    tap = await _tap(broker)
    try:
        async with dispatcher.lock:  # the sweeper waits: this test plays a process stopped mid-publish
            status, body = await hq.call("POST", "/api/v1/bulletins", role="broadcaster",
                                         json={"text": TEXT, "targets": {"zones": ZONES}})
            assert status == 201, body
            bid = body["bulletin"]["id"]
            prepared = await dispatcher._prepare(bid)
            assert prepared is not None and len(prepared.wires) == 20
            first = prepared.wires[:8]  # the broker took 8 commands, then the process stopped
            for wire in first:
                await dispatcher.publisher.publish(wire)
            async with hq.app[DB].sessions() as s:
                await dispatcher.publisher.mark_published(s, [w["id"] for w in first], now())
                await s.commit()
            assert (await hq.wait_bulletin(bid, "sending"))["play_at"] == prepared.play_at.isoformat()
        assert await hq.orch.dispatch(bid) or (await hq.wait_bulletin(bid, "active"))
        b = await hq.wait_bulletin(bid, "active")
        await wait_until(lambda: len(tap.of(bid)) >= 20, 20, "every zone's command")
        await asyncio.sleep(0.5)  # nothing more may arrive: a duplicate would show here
    finally:
        await tap.link.stop()
    per_target = Counter(c["target"] for c in tap.of(bid))
    assert per_target == Counter(f"zone:{z}" for z in ZONES), per_target  # the 12 left, once each
    starts = {c["target"]: datetime.fromisoformat(c["play_at"]) for c in tap.of(bid)}
    assert {starts[w["target"]] for w in first} == {prepared.play_at}  # a village keeps the start it was given
    resumed = {starts[f"zone:{z}"] for z in ZONES[8:]}  # the rest: one later start, a full lead after publishing
    assert len(resumed) == 1 and resumed == {datetime.fromisoformat(b["play_at"])}
    async with hq.app[DB].sessions() as s:
        rows = (await s.scalars(select(CommandLog).where(CommandLog.bulletin_id == bid))).all()
    assert len(rows) == 32 and sum(r.published_at is None for r in rows) == 12  # the old ones stay (acks name them)


async def test_cancel_while_scheduled_in_the_future_sends_nothing(hq: Hq, broker: Mosquitto):
    await _registry(hq, 50)
    tap = await _tap(broker)
    try:
        send_at = (now() + timedelta(hours=2)).isoformat()
        status, body = await hq.call("POST", "/api/v1/bulletins", role="broadcaster",
                                     json={"text": TEXT, "targets": {"zones": ZONES[:2]}, "send_at": send_at})
        assert status == 201 and body["bulletin"]["state"] == "scheduled"
        bid = body["bulletin"]["id"]
        status, body = await hq.call("POST", f"/api/v1/bulletins/{bid}/cancel", role="broadcaster")
        assert status == 200 and body["bulletin"]["state"] == "cancelled"
        status, body = await hq.call("POST", f"/api/v1/bulletins/{bid}/cancel", role="broadcaster")
        assert status == 409 and "cancelled" in body["error"]
        await hq.orch.sweep()
        await asyncio.sleep(0.3)
    finally:
        await tap.link.stop()
    assert tap.of(bid) == [] and tap.of(bid, "cancel") == []  # never published: nothing to take back
