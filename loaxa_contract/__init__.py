"""The LoaXa MQTT contract: topics, message models, limits and command signing.

This package is pure (no sockets, no MQTT library): both the HQ server and the edge agent import
it, so the wire format is defined in exactly one place.
"""

from loaxa_contract.errors import ContractError, RefusalReason
from loaxa_contract.limits import MAX_PAYLOAD_BYTES, MAX_TEXT_CHARS, SCHEMA_VERSION

__all__ = ["MAX_PAYLOAD_BYTES", "MAX_TEXT_CHARS", "SCHEMA_VERSION", "ContractError", "RefusalReason"]
