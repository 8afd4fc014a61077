"""HQ may fall behind during a broadcast to a large fleet: the broker must keep every ack for it, not drop them.

Mosquitto drops QoS 1 messages for an online client once its in-flight window (HQ's receive maximum) and
``max_queued_messages`` are full, and the publisher is told nothing. A ``played`` lost that way makes HQ
report a node that played as not having played. Here HQ's link holds its acknowledgements (as while its
database commits), a node sends more acks than the former limit (10 000) allowed to wait, then HQ catches up
and must receive every one (real Mosquitto with the production configuration, password file and ACL).
Then a consumer that acknowledges a few at a time: Mosquitto 2.0.11 lets a whole receive maximum more into
flight at each PUBACK, so the link itself stops reading at its bound, and stays connected while it waits.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from loaxa_contract import topics
from loaxa_link.mqtt import MqttLink
from tests.conftest import COMMUNE, hq_link_config, node_link_config, wait_until

pytestmark = pytest.mark.integration

BEHIND = 10_500  # more than the former limit; a 10 000-node broadcast produces ~50 000 acks
RECEIVE_MAXIMUM = 20


class SlowConsumer:
    """HQ's side of a backlog: each message acknowledged to the broker only once the test resolves its future
    (as after HQ's commit), in arrival order."""

    def __init__(self) -> None:
        self.got: list[bytes] = []
        self.held: list[asyncio.Future[None]] = []
        self.resolved = 0
        self.peak = 0

    def on_message(self, topic: str, payload: bytes) -> asyncio.Future[None]:
        self.got.append(payload)
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.held.append(fut)
        self.peak = max(self.peak, len(self.got) - self.resolved)
        return fut

    def resolve(self, count: int) -> None:
        for fut in self.held[self.resolved:self.resolved + count]:
            fut.set_result(None)
        self.resolved = min(len(self.held), self.resolved + count)


@asynccontextmanager
async def hq_behind_one_node(broker, node_logins, hq_side: SlowConsumer, sent: int,
                             **hq_link: Any) -> AsyncIterator[MqttLink]:
    """HQ's side (manual acknowledgement, the test's receive maximum) and node loa-1, which has sent ``sent``
    acks once this yields; both stopped after."""
    hq = MqttLink(hq_link_config(broker, manual_ack=True, receive_maximum=RECEIVE_MAXIMUM,
                                 subscriptions=[topics.filter_for(topics.TopicKind.NODE_ACK, COMMUNE)], **hq_link),
                  on_message=hq_side.on_message)
    node = MqttLink(node_link_config(broker, node_logins, "loa-1"))
    await hq.start()
    await node.start()
    try:
        await hq.wait_ready(60)
        await node.wait_ready(60)
        topic = topics.node_ack(COMMUNE, "loa-1")
        for start in range(0, sent, 500):  # pipelined in slices: each waits for the broker's PUBACKs
            await asyncio.gather(*(node.publish(topic, b'{"n":%d}' % i) for i in range(start, min(start + 500, sent))))
        yield hq
    finally:
        await node.stop()
        await hq.stop()


async def test_hq_behind_by_more_than_ten_thousand_acks_loses_none(broker, node_logins) -> None:
    hq_side = SlowConsumer()
    async with hq_behind_one_node(broker, node_logins, hq_side, BEHIND):
        await wait_until(lambda: len(hq_side.got) >= RECEIVE_MAXIMUM, 60, "HQ's window full")
        assert len(hq_side.got) == RECEIVE_MAXIMUM  # the rest waits at the broker
        await wait_until(lambda: hq_side.resolve(len(hq_side.held)) or len(hq_side.got) >= BEHIND, 120,
                         "every held ack delivered once HQ caught up")
        assert len(hq_side.got) == BEHIND and len(set(hq_side.got)) == BEHIND


async def test_a_consumer_that_acknowledges_slowly_holds_a_bounded_backlog(broker, node_logins) -> None:
    """Mosquitto 2.0.11 lets a whole receive maximum more into flight at each PUBACK: a consumer acking in
    small steps would be sent the broker's entire backlog. ``max_unhandled`` stops reading at its bound."""
    total, bound = 3_000, 3 * RECEIVE_MAXIMUM
    hq_side = SlowConsumer()
    async with hq_behind_one_node(broker, node_logins, hq_side, total, max_unhandled=bound) as hq:

        async def drain() -> None:
            while hq_side.resolved < total:
                hq_side.resolve(5)  # a few PUBACKs at a time, as commits of small batches
                await asyncio.sleep(0.005)

        consumer = asyncio.create_task(drain())
        await wait_until(lambda: hq_side.resolved >= total, 120, "every ack recorded")
        await consumer
        assert len(hq_side.got) == total and len(set(hq_side.got)) == total
        assert hq_side.peak <= bound, f"{hq_side.peak} messages held unacknowledged (bound {bound})"
        assert hq.read_pauses > 0  # the broker did send beyond the receive maximum: the bound was needed
        assert hq.disconnects == 0


async def test_a_paused_link_stays_connected_past_its_keepalive(broker, node_logins) -> None:
    """Paused, the link still reads a packet now and then: paho drops a connection it read nothing from
    for two keepalives, and its PINGRESP waits behind the backlog."""
    keepalive = 2
    hq_side = SlowConsumer()
    async with hq_behind_one_node(broker, node_logins, hq_side, 500, max_unhandled=RECEIVE_MAXIMUM,
                                  keepalive=keepalive) as hq:
        await wait_until(lambda: hq.read_pauses == 1, 30, "reading paused at the bound")
        hq_side.resolve(1)  # one PUBACK: the broker sends a receive maximum more, unread behind the pause
        await asyncio.sleep(4 * keepalive)  # the scenario: paused for longer than two keepalives
        assert hq.connected and hq.disconnects == 0
        await wait_until(lambda: hq_side.resolve(len(hq_side.held)) or hq_side.resolved >= 500, 60,
                         "the backlog delivered once the consumer catches up")
        assert len(set(hq_side.got)) == 500
