"""HQ may fall behind during a broadcast to a large fleet: the broker must keep every ack for it, not drop them.

Mosquitto drops QoS 1 messages for an online client once its in-flight window (HQ's receive maximum) and
``max_queued_messages`` are full, and the publisher is told nothing. A ``played`` lost that way makes HQ
report a node that played as not having played. Here HQ's link holds its acknowledgements (as while its
database commits), a node sends more acks than the former limit (10 000) allowed to wait, then HQ catches up
and must receive every one (real Mosquitto with the production configuration, password file and ACL).
"""

from __future__ import annotations

import asyncio

import pytest

from loaxa_contract import topics
from loaxa_link.mqtt import LinkConfig, MqttLink
from tests.conftest import COMMUNE, hq_link_config, wait_until

pytestmark = pytest.mark.integration

BEHIND = 10_500  # more than the former limit; a 10 000-node broadcast produces ~50 000 acks
RECEIVE_MAXIMUM = 20


async def test_hq_behind_by_more_than_ten_thousand_acks_loses_none(broker, node_logins) -> None:
    held: list[asyncio.Future[None]] = []
    got: list[bytes] = []

    def on_message(topic: str, payload: bytes) -> asyncio.Future[None]:
        got.append(payload)
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        held.append(fut)  # acknowledged to the broker only when resolved, as after HQ's commit
        return fut

    hq = MqttLink(hq_link_config(broker, "hq-behind", manual_ack=True, receive_maximum=RECEIVE_MAXIMUM,
                                 subscriptions=[topics.filter_for(topics.TopicKind.NODE_ACK, COMMUNE)]),
                  on_message=on_message)
    user, password = node_logins.login("loa-1", ["thon-1"])
    node = MqttLink(LinkConfig(port=broker.port, client_id="loa-1", username=user, password=password))
    await hq.start()
    await node.start()
    try:
        await hq.wait_ready(60)
        await node.wait_ready(60)
        topic = topics.node_ack(COMMUNE, "loa-1")
        for start in range(0, BEHIND, 500):  # pipelined in slices: each slice waits for the broker's PUBACKs
            await asyncio.gather(*(node.publish(topic, b'{"n":%d}' % i) for i in range(start, min(start + 500,
                                                                                                     BEHIND))))
        await wait_until(lambda: len(got) >= RECEIVE_MAXIMUM, 60, "HQ's window full")
        assert len(got) == RECEIVE_MAXIMUM  # the rest waits at the broker

        def catch_up() -> bool:
            for fut in held:
                if not fut.done():
                    fut.set_result(None)
            return len(got) >= BEHIND

        await wait_until(catch_up, 120, "every held ack delivered once HQ caught up")
        assert len(got) == BEHIND and len(set(got)) == BEHIND
    finally:
        await node.stop()
        await hq.stop()
    assert "dropped" not in broker.log_path.read_text(errors="replace")
