"""HQ's side of detection events against a real broker: storage, rules and rate limit, pictures, API filters.

The camera node is played by an MQTT client with the node's topics (the node's own behaviour is tested in
tests/camera and tests/integration/test_hq_detections.py)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import cv2
import numpy as np
import pytest

from loaxa_contract import codec, topics
from loaxa_contract.models import Ack, AckStage, DetectionBox, DetectionEvent
from loaxa_link.mqtt import LinkConfig, MqttLink
from tests.conftest import COMMUNE, node_link_config, wait_until
from tests.hq.fixtures import Hq, wait_async

pytestmark = pytest.mark.integration

NODE = "cam-node-1"
RULES = [{"name": "truong", "cameras": ["cong-truong"], "kinds": ["person"], "min_interval_s": 600},
         {"name": "cho", "cameras": ["cho-xa"], "kinds": ["motion"], "hours": ["00:00-00:01"]}]


class FakeNode:
    """The node's MQTT side: publishes events, collects the commands HQ sends it."""

    def __init__(self, config: LinkConfig) -> None:
        self.commands: list[dict[str, Any]] = []
        config.subscriptions = [topics.node_cmd(COMMUNE, NODE)]
        self.link = MqttLink(config, on_message=lambda _t, p: self.commands.append(json.loads(p)))

    async def event(self, ident: str, camera: str = "cong-truong", kind: str = "person",
                    at: datetime | None = None, **kw: Any) -> None:
        msg = DetectionEvent(id=ident, camera=camera, kind=kind, at=at or datetime.now(UTC), score=1.5,
                             boxes=[DetectionBox(x=0.4, y=0.2, w=0.1, h=0.4, score=1.5)], width=640, height=360,
                             **kw)
        await self.link.publish(topics.camera_event(COMMUNE, NODE, camera), codec.encode(msg))

    def command_for(self, event_id: str) -> dict[str, Any]:
        return next(c for c in self.commands if c.get("event_id") == event_id)


@pytest.fixture
async def rules_hq(start_hq: Any) -> Hq:
    return await start_hq(detections={"rules": RULES})


@pytest.fixture
async def node(broker: Any, node_logins: Any) -> AsyncIterator[FakeNode]:
    n = FakeNode(node_link_config(broker, node_logins, NODE, client_id="fake-cam-node"))  # its own login
    await n.link.start()
    await n.link.wait_ready(10)
    yield n
    await n.link.stop()


async def listing(hq: Hq, query: str = "") -> list[dict[str, Any]]:
    status, body = await hq.call("GET", f"/api/v1/detections{query}", role="police")
    assert status == 200, body
    return body["detections"]


async def alerts(hq: Hq) -> list[dict[str, Any]]:
    _, body = await hq.call("GET", "/api/v1/alerts", role="police")
    return [a for a in body["alerts"] if a["kind"] == "camera_detection"]


def jpeg() -> bytes:
    img = np.full((360, 640, 3), 120, np.uint8)
    return cv2.imencode(".jpg", img)[1].tobytes()


async def test_rate_limit_duplicates_late_events_and_filters(rules_hq: Hq, node: FakeNode) -> None:
    hq = rules_hq
    t0 = datetime.now(UTC) - timedelta(seconds=30)
    await node.event("e1", at=t0)
    await node.event("e1", at=t0)  # QoS 1 re-delivery: stored once
    await node.event("e2", at=t0 + timedelta(seconds=20))  # within 600 s: held back
    await node.event("m1", camera="cho-xa", kind="motion", at=t0)  # rule 'cho' outside its minute
    await node.event("old", at=t0 - timedelta(hours=2), historical=True)  # too late for an alert
    await wait_async(lambda: _count(hq, 4), 20, "four events stored")
    assert [a["subject"] for a in await alerts(hq)] == ["cong-truong"]
    rows = await listing(hq)
    assert sorted(r["event_id"] for r in rows) == ["e1", "e2", "m1", "old"]
    by_id = {r["event_id"]: r for r in rows}
    assert by_id["e1"]["alert_rule"] == "truong" and by_id["e2"]["alert_id"] is None
    assert by_id["old"]["alert_id"] is None and by_id["old"]["historical"]
    # the rate limit is per rule and camera, on the events' own times: 11 minutes later rings again
    await node.event("e3", at=t0 + timedelta(minutes=11))
    await wait_async(lambda: _count(hq, 5), 20, "the fifth event")
    latest = (await alerts(hq))[0]
    assert "Có thêm 1 lần phát hiện khác" in latest["message"]  # e2 was held back
    assert [r["event_id"] for r in await listing(hq, "?camera=cong-truong&kind=person&alerted=true")] == ["e3", "e1"]
    assert [r["event_id"] for r in await listing(hq, "?kind=motion")] == ["m1"]
    since = (t0 + timedelta(seconds=10)).isoformat().replace("+00:00", "Z")
    assert {r["event_id"] for r in await listing(hq, f"?from={since}")} == {"e2", "e3"}
    for bad in ("?kind=car", "?camera=Bad%20Id", "?limit=0", "?from=yesterday"):
        status, body = await hq.call("GET", f"/api/v1/detections{bad}", role="police")
        assert status == 400, (bad, body)


async def _count(hq: Hq, n: int) -> bool:
    return len(await listing(hq, "?limit=1000")) >= n


async def test_picture_upload_is_single_use_checked_and_police_only(rules_hq: Hq, node: FakeNode) -> None:
    hq = rules_hq
    await node.event("p1")
    await wait_until(lambda: any(c.get("event_id") == "p1" for c in node.commands), 20, "detection_picture cmd")
    cmd = node.command_for("p1")
    assert cmd["type"] == "detection_picture" and cmd["camera"] == "cong-truong" and cmd["sig"]
    url = cmd["upload_url"].split(str(hq.client.port), 1)[1]
    async with hq.client.post(url, data=b"not a jpeg", headers={"Content-Type": "image/jpeg"}) as resp:
        assert resp.status == 400  # bad magic bytes; the token is still good
    async with hq.client.post(url, data=jpeg(), headers={"Content-Type": "text/plain"}) as resp:
        assert resp.status == 400
    async with hq.client.post(url, data=jpeg(), headers={"Content-Type": "image/jpeg",
                                                         "X-LoaXa-Camera": "cho-xa"}) as resp:
        assert resp.status == 400  # issued for another camera
    async with hq.client.post(url, data=jpeg(), headers={"Content-Type": "image/jpeg"}) as resp:
        assert resp.status == 201, await resp.text()
    async with hq.client.post(url, data=jpeg(), headers={"Content-Type": "image/jpeg"}) as resp:
        assert resp.status == 401  # single use
    row = (await listing(hq))[0]
    assert row["picture"] == "uploaded" and row["picture_url"] == f"/api/v1/detections/{row['id']}/picture"
    async with hq.client.get(row["picture_url"], headers=hq.headers("police")) as resp:
        assert resp.status == 200 and await resp.read() == jpeg()
    for role in ("technician", "broadcaster"):
        status, _ = await hq.call("GET", row["picture_url"], role=role)
        assert status == 403
    status, body = await hq.call("GET", "/api/v1/detections/999999", role="police")
    assert status == 404 and "Không tìm thấy" in body["error"]


async def test_a_node_that_cannot_upload_says_why(rules_hq: Hq, node: FakeNode, broker: Any) -> None:
    hq = rules_hq
    await node.event("gone")
    await wait_until(lambda: any(c.get("event_id") == "gone" for c in node.commands), 20, "detection_picture cmd")
    cmd = node.command_for("gone")
    ack = Ack(node=NODE, command_id=cmd["id"], stage=AckStage.FAILED, reason="unknown_event",
              detail="no picture of event 'gone' on this node")
    await node.link.publish(topics.node_ack(COMMUNE, NODE), codec.encode(ack))

    async def failed() -> bool:
        row = (await listing(hq))[0]
        return row["picture"] == "failed" and "unknown_event" in (row["picture_reason"] or "")

    await wait_async(failed, 20, "the picture marked failed with the node's reason")
    status, body = await hq.call("GET", f"/api/v1/detections/{(await listing(hq))[0]['id']}/picture", role="police")
    assert status == 404 and body["fields"]["picture"] == "failed"
