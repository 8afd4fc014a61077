"""A node's own credentials trying to lie to HQ, on the production broker (password file + ACL).

"ke-gian" is a provisioned node that publishes only where the ACL lets it (its own ``node/ke-gian/…``)
but writes payloads about another node ("nan-nhan"), about nodes that do not exist, about commands
that were never sent to it, and about a camera that is not its own. None of it may change HQ's state.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from hq_server.storage.tables import Alert, Camera, CommandLog, Delivery, Node
from hq_server.web import DB
from loaxa_contract import codec, topics
from loaxa_contract.models import Ack, AckStage, CameraHealth, CameraStatus, NodeHealth, NodeState
from loaxa_link.mqtt import LinkConfig, MqttLink, PublishRefusedError
from tests.conftest import COMMUNE, node_link_config, wait_until
from tests.hq.fixtures import Hq, start_hq, wait_async  # noqa: F401  (pytest fixture)

pytestmark = pytest.mark.integration

VICTIM, MALLORY, CAMERA = "nan-nhan", "ke-gian", "cong-xa"


class FakeNode:
    """A node client on its own credential: publishes its state, receives its commands, never acks by itself."""

    def __init__(self, config: LinkConfig, node: str, zones: list[str]) -> None:
        self.node, self.zones = node, zones
        self.commands: list[dict] = []
        config.subscriptions = topics.node_command_filters(COMMUNE, node, zones)
        config.session_expiry_s = 0
        self.link = MqttLink(config, on_message=lambda _t, p: self.commands.append(json.loads(p)))

    async def start(self) -> FakeNode:
        await self.link.start()
        await self.link.wait_ready(15)
        await self.say(topics.node_state(COMMUNE, self.node),
                       NodeState(node=self.node, state="online", zones=self.zones, kind="mixed"), retain=True)
        return self

    async def say(self, topic: str, model, retain: bool = False) -> None:
        await self.link.publish(topic, codec.encode(model), retain=retain)

    async def command_for(self, bulletin_id: str) -> dict:
        await wait_until(lambda: any(c.get("bulletin_id") == bulletin_id for c in self.commands), 20, "command")
        return next(c for c in self.commands if c.get("bulletin_id") == bulletin_id)


async def _send(hq: Hq, text: str) -> str:
    status, body = await hq.call("POST", "/api/v1/bulletins", role="broadcaster",
                                 json={"text": text, "targets": {"nodes": [VICTIM]}})
    assert status == 201, body
    return body["bulletin"]["id"]


async def _online(hq: Hq, *nodes: str) -> bool:
    async with hq.app[DB].sessions() as s:
        found = [await s.get(Node, n) for n in nodes]
        return all(n is not None and n.state == "online" for n in found)


async def _count(hq: Hq, query) -> int:
    async with hq.app[DB].sessions() as s:
        return int(await s.scalar(query) or 0)


async def test_a_node_cannot_change_what_hq_believes_about_others(start_hq, broker, node_logins):  # noqa: F811
    hq = await start_hq(alerts={"node_offline_after_s": 3600})
    victim = await FakeNode(node_link_config(broker, node_logins, VICTIM, zones=["thon-1"]), VICTIM,
                            ["thon-1"]).start()
    mallory = await FakeNode(node_link_config(broker, node_logins, MALLORY, zones=["thon-2"]), MALLORY,
                             ["thon-2"]).start()
    eavesdropped: list[str] = []
    spy = MqttLink(node_link_config(broker, node_logins, MALLORY, client_id="ke-gian-spy", session_expiry_s=0,
                                    subscriptions=[topics.node_cmd(COMMUNE, VICTIM), f"loaxa/v1/{COMMUNE}/node/+/cmd",
                                                   f"loaxa/v1/{COMMUNE}/#"]),
                   on_message=lambda t, p: eavesdropped.append(t))
    await spy.start()
    try:
        await spy.wait_ready(15)
        await wait_async(lambda: _online(hq, VICTIM, MALLORY), 20, "both nodes online at HQ")
        now = datetime.now(UTC)
        await victim.say(topics.camera_health(COMMUNE, VICTIM, CAMERA),
                         CameraHealth(camera=CAMERA, node=VICTIM, status=CameraStatus.OK, since=now, reachable=True),
                         retain=True)
        waiting = await _send(hq, "Bản tin đang chờ phát.")
        played = await _send(hq, "Bản tin đã phát xong.")
        cmd_waiting = (await victim.command_for(waiting))["id"]
        cmd_played = (await victim.command_for(played))["id"]
        await victim.say(topics.node_ack(COMMUNE, VICTIM), Ack(node=VICTIM, command_id=cmd_played, bulletin_id=played,
                                                               stage=AckStage.PLAYED, duration_s=3.0))
        await hq.wait_delivery(played, VICTIM, "played")
        assert (await hq.deliveries(waiting))[VICTIM]["state"] == "pending"

        own_ack, own_health = topics.node_ack(COMMUNE, MALLORY), topics.node_health(COMMUNE, MALLORY)
        made_up = [uuid.uuid4().hex[:12] for _ in range(200)]
        spoofs = [
            # mark another node's bulletin played / failed, in its name
            (own_ack, Ack(node=VICTIM, command_id=cmd_waiting, bulletin_id=waiting, stage=AckStage.PLAYED)),
            (own_ack, Ack(node=VICTIM, command_id=cmd_played, bulletin_id=played, stage=AckStage.REJECTED,
                          reason="bad_signature")),
            # ... or in its own name, for commands that were never sent to it
            (own_ack, Ack(node=MALLORY, command_id=cmd_waiting, bulletin_id=waiting, stage=AckStage.PLAYED)),
            (own_ack, Ack(node=MALLORY, command_id=uuid.uuid4().hex, bulletin_id=waiting, stage=AckStage.PLAYED)),
            (own_ack, Ack(node=MALLORY, command_id=cmd_played, bulletin_id=played, stage=AckStage.FAILED,
                          reason="bad_signature")),
            # played rows for a node that does not exist
            (own_ack, Ack(node="ma-khong-co", command_id=cmd_waiting, bulletin_id=waiting, stage=AckStage.PLAYED)),
            # a reconcile report in the victim's name (HQ would cancel its bulletin) and 200 made-up ids
            (own_health, NodeHealth(node=VICTIM, uptime_s=5, bulletins=[waiting])),
            (own_health, NodeHealth(node=MALLORY, uptime_s=5, bulletins=[waiting, played, *made_up])),
            # the live victim shown offline and moved to another zone
            (topics.node_state(COMMUNE, MALLORY), NodeState(node=VICTIM, state="offline", zones=["thon-9"])),
            # re-bind the victim's camera (snapshot upload URLs would follow it), in either name
            (topics.camera_health(COMMUNE, MALLORY, CAMERA),
             CameraHealth(camera=CAMERA, node=MALLORY, status=CameraStatus.OFFLINE, since=now, reachable=False)),
            (topics.camera_health(COMMUNE, MALLORY, CAMERA),
             CameraHealth(camera=CAMERA, node=VICTIM, status=CameraStatus.BLACK, since=now, reachable=True)),
        ]
        before = hq.orch.processed
        for topic, model in spoofs:
            await mallory.say(topic, model)
        await wait_until(lambda: hq.orch.processed >= before + len(spoofs), 30, "HQ handled every spoof")

        # the ACL refuses what the node cannot even send
        for topic in (topics.node_ack(COMMUNE, VICTIM), topics.node_state(COMMUNE, VICTIM),
                      topics.node_ack(COMMUNE, "ma-khong-co"), topics.camera_health(COMMUNE, VICTIM, CAMERA)):
            with pytest.raises(PublishRefusedError):
                await mallory.link.publish(topic, b"{}")

        # nothing changed at HQ
        deliveries_w, deliveries_p = await hq.deliveries(waiting), await hq.deliveries(played)
        assert set(deliveries_w) == {VICTIM} and deliveries_w[VICTIM]["state"] == "pending"
        assert set(deliveries_p) == {VICTIM} and deliveries_p[VICTIM]["state"] == "played"
        assert await _count(hq, select(func.count()).select_from(CommandLog).where(CommandLog.type == "cancel")) == 0
        assert await _count(hq, select(func.count()).select_from(Delivery).where(
            Delivery.node_id.in_([MALLORY, "ma-khong-co"]))) == 0
        async with hq.app[DB].sessions() as s:
            node = await s.get(Node, VICTIM)
            assert (node.state, node.zones) == ("online", ["thon-1"])
            assert await s.get(Node, "ma-khong-co") is None
            cam = await s.get(Camera, CAMERA)
            assert (cam.node_id, cam.status) == (VICTIM, "ok")
            alerts = {(a.kind, a.subject) for a in (await s.scalars(select(Alert))).all()}
        assert ("camera_claim", CAMERA) in alerts  # a second node claiming a camera is alerted at once
        assert ("untrusted_message", MALLORY) in alerts  # payloads that keep lying about who sent them
        metrics = hq.orch.metrics
        assert metrics.get("loaxa_hq_inbound_refused_total", reason="identity_mismatch", kind="node_ack") == 3
        assert metrics.get("loaxa_hq_inbound_refused_total", reason="not_targeted", kind="node_ack") == 2
        assert metrics.get("loaxa_hq_inbound_refused_total", reason="camera_claim", kind="camera_health") == 1

        # snapshot upload URLs go to the camera's node only: the impostor reads nothing of them
        status, body = await hq.call("POST", f"/api/v1/cameras/{CAMERA}/snapshot", role="police")
        assert status == 202, body
        snap = await wait_for_snapshot(victim)
        assert snap["target"] == f"node:{VICTIM}" and "upload_url" in snap
        await hq.orch.link.publish(topics.node_cmd(COMMUNE, MALLORY), b"{}")  # its own topic: this one arrives
        await wait_until(lambda: eavesdropped, 10, "marker on the spy's own command topic")
        assert set(eavesdropped) == {topics.node_cmd(COMMUNE, MALLORY)}
        token = snap["upload_url"].rsplit("/", 1)[1]
        fake = b"\xff\xd8\xff\xe0" + b"\0" * 100
        status, _ = await hq.call("POST", f"/api/v1/snapshots/upload/{token[:-2]}xx", role=None, data=fake,
                                  headers={"Content-Type": "image/jpeg"})
        assert status == 401
    finally:
        await spy.stop()
        await mallory.link.stop()
        await victim.link.stop()


async def wait_for_snapshot(victim: FakeNode) -> dict:
    await wait_until(lambda: any(c.get("type") == "snapshot" for c in victim.commands), 20, "snapshot command")
    return next(c for c in victim.commands if c.get("type") == "snapshot")


async def test_repeated_identity_lies_raise_one_alert_not_a_flood(start_hq, broker, node_logins):  # noqa: F811
    hq = await start_hq()
    mallory = await FakeNode(node_link_config(broker, node_logins, MALLORY), MALLORY, []).start()
    try:
        before = hq.orch.processed
        for i in range(20):
            await mallory.say(topics.node_health(COMMUNE, MALLORY), NodeHealth(node=f"gia-{i}", uptime_s=i))
        await wait_until(lambda: hq.orch.processed >= before + 20, 30, "handled")

        async def alerts() -> list[Alert]:
            async with hq.app[DB].sessions() as s:
                return list((await s.scalars(select(Alert).where(Alert.kind == "untrusted_message"))).all())

        await wait_async(lambda: _nonempty(alerts), 10, "alert")
        found = await alerts()
        assert len(found) == 1 and found[0].subject == MALLORY and "identity_mismatch" in found[0].message
        assert hq.orch.metrics.get("loaxa_hq_inbound_refused_total", reason="identity_mismatch",
                                   kind="node_health") == 20
        async with hq.app[DB].sessions() as s:
            assert await s.get(Node, "gia-0") is None
    finally:
        await mallory.link.stop()


async def _nonempty(fn) -> bool:
    return bool(await fn())
