"""The password-file + ACL variant of the broker fixture: per-node credentials are enforced."""

from __future__ import annotations

import asyncio
import json

import pytest

from loaxa_contract import topics
from loaxa_contract.models import AckStage
from loaxa_link.mosquitto import Mosquitto, commune_acl
from loaxa_link.mqtt import LinkConfig, LinkError, MqttLink, PublishRefusedError
from tests.conftest import COMMUNE, AckTap, bulletin, require_binary, wait_until

pytestmark = pytest.mark.integration


@pytest.fixture
def acl_broker(tmp_path):
    require_binary("mosquitto")
    users = {"hq": "hq-secret", "loa-1": "pw-1", "loa-2": "pw-2"}
    m = Mosquitto(tmp_path / "acl-broker", users=users,
                  acl=commune_acl(COMMUNE, "hq", {"loa-1": ["thon-1"], "loa-2": ["thon-2"]})).start()
    yield m
    m.stop()


async def test_node_with_credentials_plays_and_cannot_step_outside_its_topics(acl_broker, make_node_config,
                                                                              signer, tmp_path):
    from edge_agent.app import EdgeAgent

    pw_file = tmp_path / "pw-1"
    pw_file.write_text("pw-1\n")
    cfg = make_node_config("loa-1", ["thon-1"], port=acl_broker.port, broker__username="loa-1",
                           broker__password_file=str(pw_file))
    agent = EdgeAgent(cfg)
    await agent.start()
    tap = AckTap(acl_broker.port)
    tap.link.config.username, tap.link.config.password = "hq", "hq-secret"
    tap.link._client.username_pw_set("hq", "hq-secret")
    await tap.link.start()
    try:
        await agent.link.wait_ready(15)
        await tap.link.wait_ready(15)
        cmd = bulletin(signer, target="zone:thon-1")
        await tap.publish(topics.zone_cmd(COMMUNE, "thon-1"), json.dumps(cmd).encode())
        await tap.wait_stage(cmd["id"], AckStage.PLAYED)

        # a denied QoS 1 publish is visible only as PUBACK reason 135 (MQTT 5)
        with pytest.raises(PublishRefusedError) as exc:
            await agent.link.publish(topics.node_ack(COMMUNE, "loa-2"), b"{}")
        assert exc.value.reason_code == 135
        with pytest.raises(PublishRefusedError):
            await agent.link.publish(topics.all_cmd(COMMUNE), b"{}")
    finally:
        await tap.link.stop()
        await agent.stop()


async def test_wrong_password_is_refused_not_connected(acl_broker):
    link = MqttLink(LinkConfig(port=acl_broker.port, client_id="intruder", username="loa-1", password="wrong",
                               reconnect_min_s=0.2))
    await link.start()
    try:
        with pytest.raises(asyncio.TimeoutError):
            await link.wait_connected(2)
        assert not link.connected
        with pytest.raises(LinkError):
            await link.publish("loaxa/v1/x/all/cmd", b"{}")
    finally:
        await link.stop()


async def test_denied_subscription_delivers_nothing(acl_broker):
    """Mosquitto 2.0.11 grants a denied SUBACK then delivers nothing: our ACL must be the guard."""
    got: list[bytes] = []
    spy = MqttLink(LinkConfig(port=acl_broker.port, client_id="spy", username="loa-2", password="pw-2",
                              subscriptions=[topics.node_cmd(COMMUNE, "loa-1")]),
                   on_message=lambda t, p: got.append(p))
    hq = MqttLink(LinkConfig(port=acl_broker.port, client_id="hq", username="hq", password="hq-secret"))
    marker: list[bytes] = []
    own = MqttLink(LinkConfig(port=acl_broker.port, client_id="own", username="loa-2", password="pw-2",
                              subscriptions=[topics.node_cmd(COMMUNE, "loa-2")]),
                   on_message=lambda t, p: marker.append(p))
    for link in (spy, hq, own):
        await link.start()
    try:
        for link in (spy, hq, own):
            await link.wait_ready(15)
        await hq.publish(topics.node_cmd(COMMUNE, "loa-1"), b"secret")
        await hq.publish(topics.node_cmd(COMMUNE, "loa-2"), b"marker")
        await wait_until(lambda: marker == [b"marker"], 10, "own command delivered")
        assert got == []
    finally:
        for link in (spy, hq, own):
            await link.stop()
