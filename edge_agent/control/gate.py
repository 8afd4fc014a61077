"""The gate every command passes before the node acts on it.

Order matters and is cheapest-first: size → JSON → schema version → signature (over the object as
received) → schema → target → expiry → replay. A refusal raises :class:`ContractError` with the
machine-readable reason the node puts in its ``rejected`` ack.

Replay protection: HQ signs a sequence number that only grows (microseconds since the epoch, with a
persisted floor, so it survives HQ restarts). The node keeps a high-water mark and the ids it has seen
within a window below it, persisted across restarts. A command whose sequence is older than the
window, or reuses another command's sequence, is a replay and refused. The window tolerates commands
published by two HQ processes (server and CLI) arriving slightly out of order.

Seen together with acknowledged: :meth:`CommandGate.admit` only *reserves* a command id (in memory);
the dispatcher records it as seen (:meth:`CommandGate.commit`, on disk) once the command's handler
has made its effect durable, right before the broker is acknowledged. A command id already recorded
is a :class:`DuplicateCommand` — the broker re-sending a message whose acknowledgement a power cut
lost, or a copy of a command already handled — ignored without a refusal: the command's own acks
tell its story, and a ``rejected`` ack would make HQ mark a delivery failed that will play.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from loaxa_common.files import atomic_write_json, read_json
from loaxa_contract import codec, signing
from loaxa_contract.errors import ContractError, RefusalReason
from loaxa_contract.models import Command, utcnow
from loaxa_contract.topics import parse_target

REPLAY_WINDOW = 300_000_000
"""Seq units (µs) below the high-water mark still accepted if the id is new: 5 minutes."""


class DuplicateCommand(ContractError):
    """A command id this node has already handled (or is handling): not acted on, not refused."""


@dataclass
class ReplayGuard:
    """Pure replay state: high-water sequence and ids seen inside the window."""

    high_water: int = 0
    seen: dict[str, int] = field(default_factory=dict)  # command id → seq
    window: int = REPLAY_WINDOW

    def check(self, command_id: str, seq: int) -> None:
        if command_id in self.seen:
            raise DuplicateCommand(RefusalReason.REPLAYED, f"command id {command_id!r} was already handled",
                                   command_id=command_id)
        if seq <= self.high_water - self.window:
            raise ContractError(
                RefusalReason.REPLAYED,
                f"seq {seq} is older than the replay window (high-water {self.high_water})",
                command_id=command_id,
            )
        if seq in self.seen.values():
            raise ContractError(RefusalReason.REPLAYED, f"seq {seq} was already used by another command",
                                command_id=command_id)

    def record(self, command_id: str, seq: int) -> None:
        self.high_water = max(self.high_water, seq)
        self.seen[command_id] = seq
        floor = self.high_water - self.window
        if len(self.seen) > 64:
            self.seen = {k: v for k, v in self.seen.items() if v > floor}

    def to_json(self) -> dict:
        return {"high_water": self.high_water, "seen": self.seen}

    @classmethod
    def from_json(cls, obj: dict) -> ReplayGuard:
        seen = {str(k): int(v) for k, v in obj.get("seen", {}).items()}
        return cls(high_water=int(obj.get("high_water", 0)), seen=seen)


class PersistentReplayGuard(ReplayGuard):
    """A :class:`ReplayGuard` saved to ``path`` after every accepted command."""

    path: Path

    @classmethod
    def load(cls, path: Path) -> PersistentReplayGuard:
        base = ReplayGuard.from_json(read_json(path, {}))
        guard = cls(high_water=base.high_water, seen=base.seen)
        guard.path = path
        return guard

    def record(self, command_id: str, seq: int) -> None:
        super().record(command_id, seq)
        atomic_write_json(self.path, self.to_json())


@dataclass
class CommandGate:
    """Verifies commands for one node."""

    node_id: str
    zones: list[str]
    public_key: Ed25519PublicKey
    replay: ReplayGuard
    clock: Callable[[], datetime] = utcnow
    _in_flight: set[str] = field(default_factory=set)

    def admit(self, payload: bytes) -> Command:
        """Return the verified command or raise :class:`ContractError` (:class:`DuplicateCommand` for a
        command id already handled or being handled). The id is reserved until :meth:`commit` records
        it or :meth:`release` gives it up."""
        obj = codec.parse_json_object(payload)
        command_id = codec.ackable_id(obj)
        if obj.get("v") != 1:
            codec.validate_command(obj)  # raises the precise unsupported_version error
        signing.verify(obj, self.public_key)
        command = codec.validate_command(obj)
        self._check_target(command.target, command_id)
        now = self.clock()
        if command.expires_at <= now:
            raise ContractError(
                RefusalReason.EXPIRED,
                f"command expired at {command.expires_at.isoformat()} (node clock {now.isoformat()})",
                command_id=command.id,
            )
        if command.id in self._in_flight:
            raise DuplicateCommand(RefusalReason.REPLAYED, f"command id {command.id!r} is being handled",
                                   command_id=command.id)
        self.replay.check(command.id, command.seq)
        self._in_flight.add(command.id)
        return command

    def commit(self, command: Command) -> None:
        """Record ``command`` as seen (on disk: blocking). Call once its effect is durable."""
        try:
            self.replay.record(command.id, command.seq)
        finally:
            self._in_flight.discard(command.id)

    def release(self, command: Command) -> None:
        """Give up a reservation without recording (handling was cancelled: the broker re-sends it)."""
        self._in_flight.discard(command.id)

    def _check_target(self, target: str, command_id: str | None) -> None:
        kind, ident = parse_target(target)
        ok = kind == "all" or (kind == "zone" and ident in self.zones) or (kind == "node" and ident == self.node_id)
        if not ok:
            raise ContractError(
                RefusalReason.WRONG_TARGET,
                f"target {target!r} does not include node {self.node_id!r} (zones {self.zones})",
                command_id=command_id,
            )
