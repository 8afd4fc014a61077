"""Taking over a stopped HQ process's MQTT session, so the node messages it held are recorded, not lost.

Why it is needed (Mosquitto 2.0, measured): a member of a shared subscription whose client is gone keeps
its share of the messages for as long as its session lives — those sent while it is down wait in its
session, and those it had received but not acknowledged stay there too. With a session that ends at the
disconnect (expiry 0) they are not given to the other members either: they are lost, and a node's ack
lost there is a loudspeaker HQ would never know played. So every HQ process keeps a persistent session,
and when one stops for good, a live one connects with its client id, which hands it that session.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import replace

from hq_server.services.inbound_router import InboundRouter, shared_subscriptions, stale_filters
from loaxa_link.mqtt import LinkConfig, LinkError, MqttLink

logger = logging.getLogger(__name__)


class Adopter:
    """Records every message a stopped instance's session held, then ends that session.

    Connects with that instance's client id (the broker re-sends what it had not acknowledged, then what
    was queued for it), unsubscribes its filters so nothing new is routed to it, hands each message to the
    router (recorded, then acknowledged: the same path as this process's own messages), and once nothing
    has come for ``idle_s`` and everything is recorded, ends the session at the broker — which also takes
    it out of the shared subscription.
    """

    def __init__(self, base: LinkConfig, router: InboundRouter, commune: str, idle_s: float = 1.5,
                 max_s: float = 120.0) -> None:
        self.base = base
        self.router = router
        self.commune = commune
        self.idle_s = idle_s
        self.max_s = max_s

    async def adopt(self, client_id: str) -> int:
        """The number of messages the session held; :class:`LinkError` if the broker could not be reached
        (the session is left as it is, to be adopted at the next try)."""
        loop = asyncio.get_running_loop()
        pending: set[asyncio.Future[None]] = set()
        count, last = 0, loop.time()

        def on_message(topic: str, payload: bytes) -> asyncio.Future[None]:
            nonlocal count, last
            fut = self.router.on_message(topic, payload)
            count, last = count + 1, loop.time()
            pending.add(fut)
            fut.add_done_callback(pending.discard)
            return fut

        cfg = replace(self.base, client_id=client_id, subscriptions=[], manual_ack=True, will=None, birth=None)
        link = MqttLink(cfg, on_message)
        await link.start()
        try:
            try:
                await link.wait_ready(15)
            except TimeoutError:
                raise LinkError(f"could not connect as {client_id}") from None
            for topic_filter in shared_subscriptions(self.commune, leader=True) + stale_filters(self.commune, False):
                with contextlib.suppress(LinkError, TimeoutError):
                    await link.unsubscribe(topic_filter)
            deadline = loop.time() + self.max_s
            while loop.time() < deadline and (pending or loop.time() - last < self.idle_s):
                await asyncio.sleep(0.05)
            if pending:  # not recorded in time: keep the session (not ended), the next try gets them again
                raise LinkError(f"{len(pending)} message(s) of {client_id} not recorded within {self.max_s:.0f}s")
            await link.stop(end_session=True)
        finally:
            await link.stop()  # no-op after the stop above; on an error the session stays at the broker
        return count
