"""Ack reporting: every stage of every command is published, in order, never dropped.

While the link is down acks wait in an ordered outbox and are sent, marked ``historical``, when it
returns. (The on-disk outbox that survives a reboot is part of the speaker-node pipeline.)
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable

from loaxa_contract import codec
from loaxa_contract.models import Ack, AckStage
from loaxa_link.mqtt import LinkError

logger = logging.getLogger(__name__)

Publish = Callable[[str, bytes], Awaitable[None]]


class AckReporter:
    def __init__(self, node_id: str, topic: str, publish: Publish, is_connected: Callable[[], bool]) -> None:
        self.node_id = node_id
        self.topic = topic
        self._publish = publish
        self._is_connected = is_connected
        self._outbox: deque[Ack] = deque()
        self._lock = asyncio.Lock()

    async def ack(self, command_id: str, stage: AckStage, *, bulletin_id: str | None = None,
                  reason: str | None = None, detail: str | None = None, **extra: object) -> Ack:
        ack = Ack(node=self.node_id, command_id=command_id, bulletin_id=bulletin_id, stage=stage,
                  reason=reason, detail=detail[:1000] if detail else None, **extra)
        level = logging.WARNING if stage in (AckStage.REJECTED, AckStage.FAILED, AckStage.EXPIRED) else logging.INFO
        logger.log(level, "ack %s %s%s", command_id, stage.value, f" ({reason}: {detail})" if reason else "")
        self._outbox.append(ack)
        await self.flush()
        return ack

    async def flush(self) -> None:
        """Send queued acks in order; stop at the first failure and keep the rest for later."""
        async with self._lock:
            while self._outbox and self._is_connected():
                ack = self._outbox[0]
                historical = ack.ts.timestamp() + 5 < time.time()
                payload = ack.model_copy(update={"historical": True}) if historical else ack
                try:
                    await self._publish(self.topic, codec.encode(payload))
                except LinkError as err:
                    logger.info("ack %s queued (%d waiting): %s", ack.command_id, len(self._outbox), err)
                    return
                self._outbox.popleft()

    @property
    def pending(self) -> int:
        return len(self._outbox)
