"""Publish a signed command and collect the nodes' acks for it (``hq-server send``)."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from loaxa_contract import codec, topics
from loaxa_contract.errors import ContractError
from loaxa_contract.models import Ack, AckStage
from loaxa_link.mqtt import MqttLink

logger = logging.getLogger(__name__)


@dataclass
class AckCollector:
    """Gathers acks for one command id, per node, in arrival order."""

    command_id: str
    acks: list[Ack] = field(default_factory=list)
    on_ack: Callable[[Ack], None] | None = None
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    def feed(self, topic: str, payload: bytes) -> None:
        try:
            ack = codec.decode_model(payload, Ack)
        except ContractError as err:
            logger.warning("bad ack on %s: %s", topic, err)
            return
        if ack.command_id != self.command_id:
            return
        self.acks.append(ack)
        if self.on_ack:
            self.on_ack(ack)
        self._changed.set()

    def terminal_nodes(self) -> dict[str, Ack]:
        return {a.node: a for a in self.acks if a.stage.terminal}

    async def wait(self, expect: int | None, timeout: float) -> None:
        """Until ``expect`` nodes reached a terminal stage (or, with no ``expect``, until ``timeout``)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            if expect is not None and len(self.terminal_nodes()) >= expect:
                return
            remaining = deadline - loop.time()
            if remaining <= 0:
                return
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), remaining)
            except TimeoutError:
                return


async def publish_command(link: MqttLink, commune: str, wire: dict[str, Any]) -> str:
    """Publish a signed command to the topic of its target; returns the topic."""
    topic = topics.command_topic_for_target(commune, wire["target"])
    payload = json.dumps(wire, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    await link.publish(topic, payload)
    return topic


def format_ack(ack: Ack) -> str:
    extra = []
    if ack.reason:
        extra.append(f"reason={ack.reason}")
    if ack.duration_s is not None:
        extra.append(f"duration={ack.duration_s:.2f}s")
    if ack.loudness_dbfs is not None:
        extra.append(f"loudness={ack.loudness_dbfs:.1f}dBFS")
    if ack.detail:
        extra.append(f"detail={ack.detail!r}")
    if ack.historical:
        extra.append("historical")
    return f"{ack.ts.isoformat(timespec='milliseconds')} {ack.node:<20} {ack.stage.value:<10} {' '.join(extra)}"


def outcome_code(collector: AckCollector) -> int:
    """0 when every node that answered played (or ponged), 1 if any failed, 2 if none finished."""
    finals = collector.terminal_nodes()
    if not finals:
        return 2
    return 0 if all(a.stage in (AckStage.PLAYED, AckStage.PONG, AckStage.CANCELLED) for a in finals.values()) else 1
