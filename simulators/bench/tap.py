"""The benchmark's view of the broker: when each command and each ack went through it.

One MQTT client with HQ's login subscribes to the commands HQ publishes and to the nodes' acks, and
stamps each message with ``time.time()`` on arrival; decoding waits until the run is over, so the tap
does as little as possible while the fleet is busy.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from loaxa_contract import codec, topics
from loaxa_contract.errors import ContractError
from loaxa_contract.models import Ack, AckStage
from loaxa_link.mqtt import LinkConfig, MqttLink

TERMINAL = frozenset({AckStage.PLAYED, AckStage.FAILED, AckStage.EXPIRED, AckStage.REJECTED, AckStage.CANCELLED})


@dataclass
class Arrival:
    at: float
    topic: str
    payload: bytes


@dataclass
class Tap:
    host: str
    port: int
    commune: str
    username: str
    password: str
    client_id: str = "loaxa-bench-tap"
    commands: bool = True
    arrivals: list[Arrival] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    link: MqttLink | None = None

    async def start(self, timeout_s: float = 30.0) -> None:
        subs = [topics.filter_for(topics.TopicKind.NODE_ACK, self.commune)]
        if self.commands:
            subs += [topics.filter_for(k, self.commune)
                     for k in (topics.TopicKind.NODE_CMD, topics.TopicKind.ZONE_CMD, topics.TopicKind.ALL_CMD)]
        self.link = MqttLink(LinkConfig(host=self.host, port=self.port, client_id=self.client_id,
                                        username=self.username, password=self.password, subscriptions=subs,
                                        session_expiry_s=60), on_message=self._feed)
        await self.link.start()
        await self.link.wait_ready(timeout_s)

    def _feed(self, topic: str, payload: bytes) -> None:
        self.arrivals.append(Arrival(time.time(), topic, payload))
        self.changed.set()

    async def stop(self) -> None:
        if self.link is not None:
            await self.link.stop()

    def clear(self) -> None:
        self.arrivals.clear()

    def acks(self) -> list[tuple[float, Ack]]:
        """Every ack received so far, decoded, with its arrival time; malformed ones left out."""
        out = []
        for a in self.arrivals:
            if topics.parse(a.topic).kind != topics.TopicKind.NODE_ACK:
                continue
            try:
                out.append((a.at, codec.decode_model(a.payload, Ack)))
            except ContractError:
                continue
        return out

    def command_topics(self) -> dict[str, float]:
        """First arrival of a command per command topic."""
        first: dict[str, float] = {}
        for a in self.arrivals:
            if topics.parse(a.topic).kind != topics.TopicKind.NODE_ACK:
                first.setdefault(a.topic, a.at)
        return first


def first_by_node(acks: list[tuple[float, Ack]], stages: frozenset[AckStage], bulletin_id: str | None = None,
                  ) -> dict[str, tuple[float, Ack]]:
    """For each node, its first ack (arrival time, ack) in ``stages`` (about ``bulletin_id`` if given)."""
    out: dict[str, tuple[float, Ack]] = {}
    for at, ack in acks:
        if ack.stage in stages and (bulletin_id is None or ack.bulletin_id == bulletin_id):
            out.setdefault(ack.node, (at, ack))
    return out


class Counting:
    """Cheap progress counts while a run goes on (no decoding): distinct nodes per ack stage keyword."""

    def __init__(self, tap: Tap) -> None:
        self.tap = tap
        self._seen = 0
        self.nodes: dict[str, set[str]] = {"received": set(), "played": set(), "terminal": set()}

    def update(self, bulletin_id: str) -> None:
        arrivals = self.tap.arrivals
        marker = f'"bulletin_id":"{bulletin_id}"'.encode()
        for a in arrivals[self._seen:]:
            if not a.topic.endswith("/ack") or marker not in a.payload:
                continue
            node = a.topic.rsplit("/", 2)[-2]
            if b'"stage":"received"' in a.payload:
                self.nodes["received"].add(node)
            for stage in TERMINAL:
                if f'"stage":"{stage.value}"'.encode() in a.payload:
                    self.nodes["terminal"].add(node)
                    if stage == AckStage.PLAYED:
                        self.nodes["played"].add(node)
        self._seen = len(arrivals)
