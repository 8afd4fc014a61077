"""Routes verified commands to their handlers; refuses everything else with a reason.

Handlers are registered per command ``type``; a test checks that every command type of the contract
has one, so a new command cannot be added to the contract and silently ignored by the node.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from edge_agent.control.acks import AckReporter
from edge_agent.control.gate import CommandGate, DuplicateCommand
from loaxa_common.aio import cancel_all
from loaxa_contract import topics
from loaxa_contract.errors import ContractError
from loaxa_contract.models import AckStage, CommandBase

logger = logging.getLogger(__name__)

Handler = Callable[[CommandBase], Awaitable[None]]


class Dispatcher:
    """Gate → handler → "seen", in that order, before the broker is acknowledged.

    The link acknowledges a message to the broker when :meth:`handle` returns (manual
    acknowledgement), so a handler returns once the command's effect is durable (a bulletin is on
    disk) and leaves slow work (rendering, an upload) to tasks it starts. Handlers registered with
    ``background=True`` (snapshots: nothing to keep) run entirely in a task of the dispatcher.
    """

    def __init__(self, gate: CommandGate, acks: AckReporter) -> None:
        self.gate = gate
        self.acks = acks
        self.handlers: dict[str, Handler] = {}
        self._background: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self.refused = 0
        self.duplicates = 0

    def register(self, command_type: str, handler: Handler, *, background: bool = False) -> None:
        self.handlers[command_type] = handler
        if background:
            self._background.add(command_type)

    async def stop(self) -> None:
        for err in await cancel_all(list(self._tasks)):
            logger.error("a background command ended with %s while stopping", err)

    async def handle(self, topic: str, payload: bytes) -> None:
        """Entry point for every message on a command topic. Never raises: the node keeps serving."""
        try:
            kind = topics.parse(topic).kind
        except ValueError as err:
            kind = None
            logger.warning("message on unknown topic ignored: %s", err)
        if kind not in topics.COMMAND_KINDS:
            logger.warning("message on non-command topic %s ignored", topic)
            return
        try:
            command = self.gate.admit(payload)
        except DuplicateCommand as dup:
            self.duplicates += 1
            logger.warning("command %s on %s delivered again and ignored: %s", dup.command_id, topic, dup.detail)
            return
        except ContractError as err:
            self.refused += 1
            logger.warning("refused command %s on %s: %s", err.command_id or "?", topic, err)
            await self._ack_safely(err.command_id or "?", AckStage.REJECTED, None, err.reason.value, err.detail)
            return
        try:
            await self._run(command, topic)
        except asyncio.CancelledError:
            self.gate.release(command)  # not acknowledged: the broker delivers it again
            raise
        try:
            await asyncio.to_thread(self.gate.commit, command)
        except Exception:  # handled, but a copy re-sent after a power cut would be handled again
            logger.exception("command %s handled but could not be recorded as seen", command.id)

    async def _run(self, command: CommandBase, topic: str) -> None:
        bulletin_id = getattr(command, "bulletin_id", None)
        handler = self.handlers.get(command.type)
        if handler is None:
            await self._ack_safely(command.id, AckStage.FAILED, bulletin_id, "unsupported_command",
                                   f"this node does not handle '{command.type}' commands")
            return
        if command.type in self._background:
            task = asyncio.get_running_loop().create_task(self._guarded(handler, command, topic),
                                                          name=f"command:{command.type}:{command.id}")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            return
        await self._guarded(handler, command, topic)

    async def _guarded(self, handler: Handler, command: CommandBase, topic: str) -> None:
        try:
            await handler(command)
        except Exception as err:
            logger.exception("command on %s crashed its handler", topic)
            await self._ack_safely(command.id, AckStage.FAILED, getattr(command, "bulletin_id", None),
                                   "internal_error", f"{type(err).__name__}: {err}")

    async def _ack_safely(self, command_id: str, stage: AckStage, bulletin_id: str | None, reason: str,
                          detail: str) -> None:
        try:
            await self.acks.ack(command_id, stage, bulletin_id=bulletin_id, reason=reason, detail=detail)
        except Exception:
            logger.exception("could not even ack %s %s", command_id, stage.value)
