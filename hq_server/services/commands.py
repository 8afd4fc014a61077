"""The one path a command takes out of HQ: sign → log (committed) → publish.

Why one path? Bulletins, cancels, re-sends, programme/volume, zone membership, snapshots, detection
pictures and live views each had their own copy of "build, sign, add a ``commands`` row, publish", and
the copies disagreed on the one rule that matters: **the log row is committed before the command is
published**. A node answers within milliseconds; an ack whose command HQ cannot find yet is refused as
an ack of an unknown command (HQ believes only acks of commands it sent), and the delivery it was about
stays ``pending``.

:meth:`CommandPublisher.send` is that rule for one command. A broadcast signs and logs all its commands
in one transaction, then :meth:`publish_all` publishes them pipelined (every PUBLISH written at once,
PUBACKs awaited together: 20 zone commands cost one round trip, not 20) and :meth:`mark_published`
records which ones the broker took, so a process that stops mid-broadcast leaves a record of what is
left to publish.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from hq_server.services.metrics import Metrics
from hq_server.signer import CommandSigner
from hq_server.storage.tables import CommandLog, now
from loaxa_contract import topics
from loaxa_link.mqtt import LinkError, MqttLink

logger = logging.getLogger(__name__)

Wire = dict[str, Any]


def encode(wire: Wire) -> bytes:
    return json.dumps(wire, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


class CommandPublisher:
    """Signs commands with HQ's key, records them in the command log, publishes them to their topic."""

    def __init__(self, signer: CommandSigner, link: MqttLink, commune: str, metrics: Metrics) -> None:
        self.signer = signer
        self.link = link
        self.commune = commune
        self.metrics = metrics

    def sign(self, command_type: str, target: str, ttl_s: float, **fields: Any) -> Wire:
        """A signed wire command (validated against the contract: HQ never publishes what nodes refuse)."""
        return self.signer.build(command_type, target=target, ttl_s=ttl_s, **fields)

    def sign_many(self, command_type: str, targets: Sequence[tuple[str, dict[str, Any]]], ttl_s: float,
                  **fields: Any) -> list[Wire]:
        """One command per (target, own fields), with one persisted block of sequence numbers for all."""
        seqs = self.signer.seq.block(len(targets))
        return [self.signer.build(command_type, target=target, ttl_s=ttl_s, seq=seq, **own, **fields)
                for (target, own), seq in zip(targets, seqs, strict=True)]

    @staticmethod
    def log(session: AsyncSession, wire: Wire, bulletin_id: str | None = None) -> CommandLog:
        """Add the command's log row to ``session``; the caller commits before publishing."""
        row = CommandLog(id=wire["id"], type=wire["type"], bulletin_id=bulletin_id, target=wire["target"],
                         expires_at=datetime.fromisoformat(wire["expires_at"]))
        session.add(row)
        return row

    async def publish(self, wire: Wire) -> None:
        """Publish one logged, committed command; :class:`LinkError` if the broker did not take it."""
        await self.link.publish(topics.command_topic_for_target(self.commune, wire["target"]), encode(wire))
        self.metrics.inc("loaxa_hq_commands_total", type=wire["type"])

    async def publish_all(self, wires: Sequence[Wire]) -> list[LinkError | None]:
        """Publish many commands pipelined; per command None (taken) or the :class:`LinkError`, in order."""
        results = await asyncio.gather(*(self.publish(w) for w in wires), return_exceptions=True)
        out: list[LinkError | None] = []
        for wire, result in zip(wires, results, strict=True):
            if isinstance(result, LinkError) or result is None:
                out.append(result)
            elif isinstance(result, BaseException):
                logger.error("publishing command %s failed", wire["id"], exc_info=result)
                out.append(LinkError(f"{result.__class__.__name__}: {result}"))
        return out

    async def send(self, session: AsyncSession, command_type: str, target: str, ttl_s: float,
                   bulletin_id: str | None = None, **fields: Any) -> str:
        """Sign, log, **commit** ``session`` (with whatever else the caller added), publish; the command id.

        :class:`LinkError` when the broker did not take it: the command stays in the log, never published
        (``published_at`` empty), and expires; the caller records what that means for its own row.
        """
        wire = self.sign(command_type, target, ttl_s, **fields)
        row = self.log(session, wire, bulletin_id)
        await session.commit()
        await self.publish(wire)
        row.published_at = now()
        await session.commit()
        return str(wire["id"])

    @staticmethod
    async def mark_published(session: AsyncSession, ids: Sequence[str], at: datetime) -> None:
        if ids:
            await session.execute(update(CommandLog).where(CommandLog.id.in_(list(ids))).values(published_at=at))
