"""Routes verified commands to their handlers; refuses everything else with a reason.

Handlers are registered per command ``type``; a test checks that every command type of the contract
has one, so a new command cannot be added to the contract and silently ignored by the node.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from edge_agent.control.acks import AckReporter
from edge_agent.control.gate import CommandGate
from loaxa_contract import topics
from loaxa_contract.errors import ContractError
from loaxa_contract.models import AckStage, CommandBase

logger = logging.getLogger(__name__)

Handler = Callable[[CommandBase], Awaitable[None]]


class Dispatcher:
    def __init__(self, gate: CommandGate, acks: AckReporter) -> None:
        self.gate = gate
        self.acks = acks
        self.handlers: dict[str, Handler] = {}
        self.refused = 0

    def register(self, command_type: str, handler: Handler) -> None:
        self.handlers[command_type] = handler

    async def handle(self, topic: str, payload: bytes) -> None:
        """Entry point for every message on a command topic. Never raises: the node keeps serving."""
        command_id, bulletin_id = "?", None
        try:
            parsed = topics.parse(topic)
            if parsed.kind not in topics.COMMAND_KINDS:
                logger.warning("message on non-command topic %s ignored", topic)
                return
            try:
                command = self.gate.admit(payload)
            except ContractError as err:
                self.refused += 1
                logger.warning("refused command %s on %s: %s", err.command_id or "?", topic, err)
                await self.acks.ack(err.command_id or "?", AckStage.REJECTED, reason=err.reason.value,
                                    detail=err.detail)
                return
            command_id, bulletin_id = command.id, getattr(command, "bulletin_id", None)
            handler = self.handlers.get(command.type)
            if handler is None:
                await self.acks.ack(command.id, AckStage.FAILED, reason="unsupported_command",
                                    detail=f"this node does not handle '{command.type}' commands")
                return
            await handler(command)
        except Exception as err:
            logger.exception("command on %s crashed its handler", topic)
            try:
                await self.acks.ack(command_id, AckStage.FAILED, bulletin_id=bulletin_id, reason="internal_error",
                                    detail=f"{type(err).__name__}: {err}")
            except Exception:
                logger.exception("could not even ack the failure")
