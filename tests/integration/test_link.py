"""MqttLink against a real Mosquitto: reconnect, persistent session across a broker restart, threads."""

from __future__ import annotations

import asyncio
import threading

import pytest

from loaxa_link.mqtt import MqttLink, NotConnectedError
from tests.conftest import COMMUNE, hq_link_config, wait_until

pytestmark = pytest.mark.integration


T = f"loaxa/v1/{COMMUNE}/test"  # inside the commune: the ACL gives HQ's credential nothing else


async def test_session_survives_broker_restart_and_queued_message_arrives(broker):
    got: list[bytes] = []
    sub = MqttLink(hq_link_config(broker, "sub", subscriptions=[f"{T}/#"], reconnect_min_s=0.1, reconnect_max_s=0.5),
                   on_message=lambda t, p: got.append(p))
    pub = MqttLink(hq_link_config(broker, "pub", reconnect_min_s=0.1, reconnect_max_s=0.5))
    await sub.start()
    await pub.start()
    try:
        await sub.wait_ready(10)
        await pub.wait_ready(10)
        await sub.stop()  # subscriber offline; its persistent session holds what arrives
        await pub.publish(f"{T}/1", b"while-offline")
        broker.restart()  # queued message must survive the broker restart too (saved at stop)
        await wait_until(lambda: not pub.connected, 10, "publisher notices the restart")
        with pytest.raises(NotConnectedError):
            await pub.publish(f"{T}/2", b"x")
        await pub.wait_ready(20)
        sub2 = MqttLink(hq_link_config(broker, "sub", subscriptions=[f"{T}/#"]), on_message=lambda t, p: got.append(p))
        await sub2.start()
        await wait_until(lambda: b"while-offline" in got, 20, "queued message after restart")
        await pub.publish(f"{T}/3", b"after")
        await wait_until(lambda: b"after" in got, 10, "live message after reconnect")
        assert pub.connects == 2 and pub.disconnects == 1
        await sub2.stop()
    finally:
        await pub.stop()


async def test_many_links_share_the_loop_without_threads(broker):
    before = threading.active_count()
    links = [MqttLink(hq_link_config(broker, f"c{i}", subscriptions=[f"{T}/x/{i}"])) for i in range(50)]
    for link in links:
        await link.start()
    await asyncio.gather(*(link.wait_ready(20) for link in links))
    # connects ran in the default executor; no thread per client is left behind
    assert threading.active_count() - before <= 8
    await asyncio.gather(*(link.stop() for link in links))


async def test_a_late_suback_does_not_leave_the_link_connected_but_never_ready(broker, monkeypatch):
    """A SUBACK that misses its deadline (a loaded machine) used to kill the after-connect work: connected,
    never ready, no birth, no ``on_connected`` (ack flush, reconcile report) until the next reconnect."""
    link = MqttLink(hq_link_config(broker, "late-suback", subscriptions=[f"{T}/a", f"{T}/b"],
                                   birth=(f"{T}/birth", b"up")))
    called: list[bool] = []
    link.on_connected = lambda session_present: called.append(session_present)
    subscribe = link.subscribe

    async def late(topic_filter: str, qos: int = 1, timeout: float = 15.0) -> None:
        if topic_filter.endswith("/a"):
            raise TimeoutError  # what asyncio.timeout raises when no SUBACK came in time
        await subscribe(topic_filter, qos, timeout)

    monkeypatch.setattr(link, "subscribe", late)
    await link.start()
    try:
        await link.wait_ready(30)
        await wait_until(lambda: called == [False], 10, "on_connected after the late SUBACK")
    finally:
        await link.stop()
