"""Ack and health reporting with store and forward.

Every ack is written to the on-disk outbox before it is published, so a reboot or a broker outage
loses none; they are sent in production order. A stored entry that cannot be decoded is moved aside
and reported, never left to block the acks behind it. Health reports go straight out when the link is up
and the outbox is empty, and are queued (bounded, oldest dropped first) otherwise. Anything produced
while offline is sent with ``historical: true``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from edge_agent.control.outbox import ACK, HEALTH, DiskOutbox, Entry
from loaxa_contract import codec
from loaxa_contract.errors import ContractError
from loaxa_contract.models import Ack, AckStage, NodeHealth
from loaxa_link.mqtt import LinkError

logger = logging.getLogger(__name__)

LATE_S = 10.0
"""An ack sent later than this after it was produced is marked historical even if the link looked up."""

Publish = Callable[[str, bytes], Awaitable[None]]


class AckReporter:
    def __init__(self, node_id: str, topic: str, publish: Publish, is_connected: Callable[[], bool],
                 *, outbox: DiskOutbox, health_topic: str) -> None:
        self.node_id = node_id
        self.topic = topic
        self.health_topic = health_topic
        self._publish = publish
        self._is_connected = is_connected
        self.outbox = outbox
        self._lock = asyncio.Lock()
        self.sent = 0
        self.unreadable = 0
        self.on_unreadable: Callable[[int, str], None] = lambda count, detail: None
        """Called with (entries set aside so far, detail) when a stored entry cannot be decoded."""
        self._flushes: set[asyncio.Task[None]] = set()

    async def ack(self, command_id: str, stage: AckStage, *, bulletin_id: str | None = None,
                  reason: str | None = None, detail: str | None = None, wait_sent: bool = True,
                  **extra: object) -> Ack:
        return await self.send(self.build(command_id, stage, bulletin_id=bulletin_id, reason=reason, detail=detail,
                                          **extra), wait_sent=wait_sent)

    def build(self, command_id: str, stage: AckStage, *, bulletin_id: str | None = None,
              reason: str | None = None, detail: str | None = None, **extra: object) -> Ack:
        return Ack(node=self.node_id, command_id=command_id, bulletin_id=bulletin_id, stage=stage,
                   reason=reason, detail=detail[:1000] if detail else None, **extra)  # type: ignore[arg-type]

    async def send(self, ack: Ack, *, wait_sent: bool = True) -> Ack:
        """Store ``ack`` in the outbox (durable), then try to send what waits there, in order.

        ``wait_sent=False``: return once the ack is durable and send it in the background (same order:
        one flush at a time, oldest first). A synchronised start uses it for ``playing``: the ack is a
        promise kept on disk, and the start must not wait for a PUBACK over a slow 4G link.
        """
        level = logging.WARNING if ack.stage in (AckStage.REJECTED, AckStage.FAILED, AckStage.EXPIRED) else logging.INFO
        logger.log(level, "ack %s %s%s", ack.command_id, ack.stage.value,
                   f" ({ack.reason}: {ack.detail})" if ack.reason else "")
        await asyncio.to_thread(self.outbox.put, ACK, codec.encode(ack), offline=not self._is_connected())
        if wait_sent:
            await self.flush()
        else:
            task = asyncio.get_running_loop().create_task(self._background_flush(), name="acks:flush")
            self._flushes.add(task)
            task.add_done_callback(self._flushes.discard)
        return ack

    async def _background_flush(self) -> None:
        try:
            await self.flush()
        except Exception:  # the entry stays in the outbox: the next flush sends it
            logger.exception("background flush of the outbox failed")

    async def health(self, report: NodeHealth) -> None:
        if self._is_connected() and len(self.outbox) == 0:
            try:
                await self._publish(self.health_topic, codec.encode(report))
                return
            except LinkError as err:
                logger.info("health report queued: %s", err)
        # behind acks still waiting (or a failed publish): queued in order, historical only if produced offline
        # or sent late — a reconnect report queued behind the acks of that same reconnect is current
        await asyncio.to_thread(self.outbox.put, HEALTH, codec.encode(report), offline=not self._is_connected())
        await self.flush()

    async def flush(self) -> None:
        """Send queued messages in order; stop at the first failure and keep the rest for later."""
        async with self._lock:
            if not self._is_connected():
                return
            for entry in self.outbox.entries():
                if not self._is_connected():
                    return
                payload = await asyncio.to_thread(self._prepare, entry)
                if payload is None:
                    continue  # undecodable: moved aside and reported, never blocks what follows
                try:
                    await self._publish(self.topic if entry.kind == ACK else self.health_topic, payload)
                except LinkError as err:
                    logger.info("outbox: %d waiting (%s)", len(self.outbox), err)
                    return
                self.outbox.remove(entry)
                self.sent += 1

    def _prepare(self, entry: Entry) -> bytes | None:
        """The payload to send for ``entry`` (marked historical if late), or None if it is unreadable.

        Stored entries are decoded again (to mark them historical); one that no longer decodes — a
        damaged file, or an ack written by another agent version — is moved to ``outbox/unreadable/``
        and reported, so it can be inspected, and every later ack still goes out.
        """
        try:
            payload = entry.read()
            model = codec.decode_model(payload, Ack if entry.kind == ACK else NodeHealth)
        except (OSError, ContractError) as err:
            aside = self.outbox.set_aside(entry)
            self.unreadable += 1
            logger.error("outbox entry %s cannot be decoded (%s); moved to %s", entry.path.name, err, aside)
            self.on_unreadable(self.unreadable, f"{entry.path.name}: {err}")
            return None
        if entry.offline or model.ts.timestamp() + LATE_S < time.time():
            payload = codec.encode(model.model_copy(update={"historical": True}))
        return payload

    @property
    def pending(self) -> int:
        return len(self.outbox)
