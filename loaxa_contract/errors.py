"""Errors of the contract layer, each carrying a machine-readable reason for the refusal ack."""

from __future__ import annotations

from enum import StrEnum


class RefusalReason(StrEnum):
    """Why a node refused a command; sent verbatim in the ``reason`` field of a ``rejected`` ack."""

    OVERSIZED = "oversized"
    MALFORMED_JSON = "malformed_json"
    INVALID_SCHEMA = "invalid_schema"
    UNSUPPORTED_VERSION = "unsupported_version"
    UNSIGNED = "unsigned"
    BAD_SIGNATURE = "bad_signature"
    REPLAYED = "replayed"
    EXPIRED = "expired"
    WRONG_TARGET = "wrong_target"


class ContractError(ValueError):
    """A payload that does not satisfy the contract.

    ``reason`` is the machine-readable code; ``detail`` says which field and why, for the log and
    for the technician reading the ack at HQ.
    """

    def __init__(self, reason: RefusalReason, detail: str, *, command_id: str | None = None) -> None:
        super().__init__(f"{reason.value}: {detail}")
        self.reason = reason
        self.detail = detail
        self.command_id = command_id
