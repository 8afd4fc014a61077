"""The broker as in production: no anonymous client, one credential per node, the commune ACL, live revoke."""

from __future__ import annotations

import asyncio
import json

import pytest

from loaxa_contract import topics
from loaxa_contract.models import AckStage
from loaxa_link.credentials import HQ_USER, CredentialError
from loaxa_link.mqtt import LinkConfig, LinkError, MqttLink, PublishRefusedError
from tests.conftest import COMMUNE, bulletin, hq_link_config, node_link_config, wait_until

pytestmark = pytest.mark.integration


async def _connected(config: LinkConfig, **kw) -> MqttLink:
    link = MqttLink(config, **kw)
    await link.start()
    await link.wait_ready(15)
    return link


async def test_node_with_credentials_plays_and_cannot_step_outside_its_topics(start_agent, tap, signer):
    agent = await start_agent("loa-1", ["thon-1"])
    assert agent.config.broker.username == "loa-1"
    cmd = bulletin(signer, target="zone:thon-1")
    await tap.publish(topics.zone_cmd(COMMUNE, "thon-1"), json.dumps(cmd).encode())
    await tap.wait_stage(cmd["id"], AckStage.PLAYED)

    # a denied QoS 1 publish is visible only as PUBACK reason 135 (MQTT 5)
    for topic in (topics.node_ack(COMMUNE, "loa-2"), topics.node_state(COMMUNE, "loa-2"), topics.all_cmd(COMMUNE),
                  topics.node_cmd(COMMUNE, "loa-1"), topics.camera_health(COMMUNE, "loa-2", "cam-1"),
                  f"loaxa/v1/{COMMUNE}/camera/cam-1/health", "loaxa/v1/other-commune/node/loa-1/ack"):
        with pytest.raises(PublishRefusedError) as exc:
            await agent.link.publish(topic, b"{}")
        assert exc.value.reason_code == 135, topic
    await agent.link.publish(topics.camera_health(COMMUNE, "loa-1", "cam-1"), b"", retain=True)  # its own: allowed


async def test_anonymous_and_wrong_password_are_refused(broker, node_logins):
    node_logins.login("loa-1")
    for user, password in ((None, None), ("loa-1", "wrong"), (HQ_USER, "wrong"), ("nobody", "x")):
        link = MqttLink(LinkConfig(port=broker.port, client_id="intruder", username=user, password=password,
                                   reconnect_min_s=0.2))
        await link.start()
        try:
            with pytest.raises(asyncio.TimeoutError):
                await link.wait_connected(1.5)
            with pytest.raises(LinkError):
                await link.publish(topics.all_cmd(COMMUNE), b"{}")
        finally:
            await link.stop()


async def test_a_node_reads_only_its_own_its_zones_and_commune_commands(broker, node_logins):
    """Mosquitto 2.0 grants a denied SUBACK then delivers nothing: the ACL is the guard."""
    got: list[str] = []
    spy_topics = [topics.node_cmd(COMMUNE, "loa-1"), topics.zone_cmd(COMMUNE, "thon-1"),
                  topics.filter_for(topics.TopicKind.NODE_ACK, COMMUNE), topics.node_cmd(COMMUNE, "loa-2"),
                  topics.zone_cmd(COMMUNE, "thon-2"), topics.all_cmd(COMMUNE)]
    spy = await _connected(node_link_config(broker, node_logins, "loa-2", zones=["thon-2"], subscriptions=spy_topics),
                           on_message=lambda t, p: got.append(t))
    hq = await _connected(hq_link_config(broker))
    victim = await _connected(node_link_config(broker, node_logins, "loa-1", zones=["thon-1"]))
    try:
        await victim.publish(topics.node_ack(COMMUNE, "loa-1"), b"{}")
        for topic in (topics.node_cmd(COMMUNE, "loa-1"), topics.zone_cmd(COMMUNE, "thon-1"),
                      topics.node_cmd(COMMUNE, "loa-2"), topics.zone_cmd(COMMUNE, "thon-2"), topics.all_cmd(COMMUNE)):
            await hq.publish(topic, b"x")
        expected = {topics.node_cmd(COMMUNE, "loa-2"), topics.zone_cmd(COMMUNE, "thon-2"), topics.all_cmd(COMMUNE)}
        await wait_until(lambda: set(got) == expected, 10, "own, zone and commune commands")
        await hq.publish(topics.all_cmd(COMMUNE), b"marker")  # everything before it was delivered or denied
        await wait_until(lambda: len(got) == 4, 10, "marker")
        assert set(got) == expected
    finally:
        for link in (spy, hq, victim):
            await link.stop()


async def test_zone_change_and_revoke_apply_to_the_running_broker(broker, node_logins, broker_credentials):
    got: list[str] = []
    node = await _connected(node_link_config(broker, node_logins, "loa-1", zones=["thon-1"], reconnect_min_s=0.1,
                                             reconnect_max_s=0.3,
                                             subscriptions=[topics.zone_cmd(COMMUNE, "thon-1"),
                                                            topics.zone_cmd(COMMUNE, "thon-2")]),
                            on_message=lambda t, p: got.append(p.decode()))
    hq = await _connected(hq_link_config(broker))
    try:
        await hq.publish(topics.zone_cmd(COMMUNE, "thon-2"), b"before")
        await hq.publish(topics.zone_cmd(COMMUNE, "thon-1"), b"own-1")
        await wait_until(lambda: got == ["own-1"], 10, "own zone only")

        # HQ moves the node to thon-2: store + one reload; the connected node's reads follow at once
        assert broker_credentials.set_zones("loa-1", ["thon-2"])
        assert broker.reload()
        await hq.publish(topics.zone_cmd(COMMUNE, "thon-1"), b"old-zone")
        await hq.publish(topics.zone_cmd(COMMUNE, "thon-2"), b"new-zone")
        await wait_until(lambda: got[-1:] == ["new-zone"], 10, "new zone")
        assert got == ["own-1", "new-zone"]

        # revoke: the connected node is disconnected by the reload and refused from then on
        assert broker_credentials.revoke_node("loa-1")
        assert broker.reload()
        await wait_until(lambda: not node.connected, 10, "revoked node disconnected")
        with pytest.raises(asyncio.TimeoutError):
            await node.wait_connected(2)  # it keeps retrying (0.1-0.3 s) and is refused each time
        assert node.connects == 1
        with pytest.raises(CredentialError):
            broker_credentials.set_zones("loa-1", ["thon-1"])
        assert [c.node for c in broker_credentials.nodes(include_revoked=True)] == ["loa-1"]
        assert broker_credentials.nodes() == []
    finally:
        await node.stop()
        await hq.stop()


def test_store_refuses_what_would_weaken_the_acl(broker_credentials):
    with pytest.raises(CredentialError):
        broker_credentials.add_node(HQ_USER)
    with pytest.raises(ValueError):
        broker_credentials.add_node("loa/#")
    broker_credentials.add_node("loa-1", ["thon-1"])
    with pytest.raises(CredentialError, match="already has a credential"):
        broker_credentials.add_node("loa-1")
    first = broker_credentials.get("loa-1")
    broker_credentials.add_node("loa-1", ["thon-1"], replace_existing=True)
    assert broker_credentials.get("loa-1").password_hash != first.password_hash
    assert broker_credentials.hq_password() == broker_credentials.hq_password()  # generated once, kept
    for path in (broker_credentials.nodes_path, broker_credentials.hq_secret_path):
        assert path.stat().st_mode & 0o777 == 0o600
    acl = broker_credentials.acl_text()
    assert f"pattern write loaxa/v1/{COMMUNE}/node/%u/ack" in acl
    assert f"pattern read loaxa/v1/{COMMUNE}/node/%u/cmd" in acl
    assert f"user loa-1\ntopic read loaxa/v1/{COMMUNE}/zone/thon-1/cmd" in acl
    assert "pattern write" in acl and not any(
        line.startswith("pattern write") and "%u" not in line for line in acl.splitlines())
