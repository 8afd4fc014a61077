"""Encoding and strict decoding of payloads, turning every failure into a precise ContractError."""

from __future__ import annotations

import json
from typing import Any, TypeVar

from pydantic import BaseModel, TypeAdapter, ValidationError

from loaxa_contract.errors import ContractError, RefusalReason
from loaxa_contract.limits import MAX_ID_CHARS, MAX_JSON_DEPTH, MAX_PAYLOAD_BYTES, MAX_TEXT_CHARS, SCHEMA_VERSION
from loaxa_contract.models import Command

M = TypeVar("M", bound=BaseModel)

_COMMAND_ADAPTER: TypeAdapter[Command] = TypeAdapter(Command)


def encode(model: BaseModel) -> bytes:
    """Serialise a model to the wire (UTF-8 JSON, ``None`` fields omitted)."""
    return model.model_dump_json(exclude_none=True).encode("utf-8")


def command_dict(model: BaseModel) -> dict[str, Any]:
    """The JSON-compatible dict of a command, as it will be signed and sent."""
    obj: dict[str, Any] = json.loads(model.model_dump_json(exclude_none=True))
    return obj


def describe_validation_error(err: ValidationError) -> str:
    """One line per problem: ``field.path: message`` — what a technician needs to fix the sender."""
    parts = []
    for e in err.errors(include_url=False):
        loc = ".".join(str(p) for p in e["loc"]) or "(payload)"
        parts.append(f"{loc}: {e['msg']}")
    return "; ".join(parts)


def parse_json_object(payload: bytes) -> dict[str, Any]:
    """Size check, UTF-8 and JSON parse, object check — before anything else looks at the payload."""
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise ContractError(
            RefusalReason.OVERSIZED, f"payload is {len(payload)} bytes, limit is {MAX_PAYLOAD_BYTES}"
        )
    try:
        obj = json.loads(payload.decode("utf-8"), parse_constant=_not_a_number)
    except UnicodeDecodeError as err:
        raise ContractError(RefusalReason.MALFORMED_JSON, f"payload is not UTF-8: {err}") from err
    except json.JSONDecodeError as err:
        raise ContractError(
            RefusalReason.MALFORMED_JSON, f"invalid JSON at line {err.lineno} column {err.colno}: {err.msg}"
        ) from err
    except RecursionError as err:  # thousands of nested [ or { inside the size limit
        raise ContractError(RefusalReason.MALFORMED_JSON,
                            f"JSON nested deeper than {MAX_JSON_DEPTH} levels") from err
    except ValueError as err:  # NaN/Infinity, or an integer longer than Python converts (4 300 digits)
        raise ContractError(RefusalReason.MALFORMED_JSON, f"invalid number: {str(err)[:120]}") from err
    if not isinstance(obj, dict):
        raise ContractError(RefusalReason.MALFORMED_JSON, f"payload must be a JSON object, got {type(obj).__name__}")
    if json_depth(obj, MAX_JSON_DEPTH) > MAX_JSON_DEPTH:
        raise ContractError(RefusalReason.MALFORMED_JSON, f"JSON nested deeper than {MAX_JSON_DEPTH} levels",
                            command_id=ackable_id(obj))
    check_text(obj)
    return obj


def json_depth(obj: Any, limit: int) -> int:
    """Nesting depth of ``obj`` (an object or array counts one level), walked without recursion and
    stopped as soon as it passes ``limit``."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(obj, 1)]
    while stack:
        value, depth = stack.pop()
        if not isinstance(value, dict | list):
            continue
        if depth > limit:
            return depth
        deepest = max(deepest, depth)
        stack.extend((v, depth + 1) for v in (value.values() if isinstance(value, dict) else value))
    return deepest


def ackable_id(obj: dict[str, Any]) -> str | None:
    """The payload's ``id`` if a refusal ack can carry it (a string within the id limit), else None: an
    over-long id is itself the refusal's subject and must not make the ack invalid in turn."""
    ident = obj.get("id")
    return ident if isinstance(ident, str) and 0 < len(ident) <= MAX_ID_CHARS else None


def _not_a_number(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def check_text(obj: Any) -> None:
    """No lone UTF-16 surrogate (``"\\ud800"``) in any string or key, walked without recursion: encoding one
    for the signature or the database would raise UnicodeEncodeError instead of refusing."""
    stack: list[Any] = [obj]
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            stack.extend(value.keys())
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
        elif isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError as err:
                raise ContractError(RefusalReason.MALFORMED_JSON, "text contains a lone UTF-16 surrogate") from err


def validate_command(obj: dict[str, Any]) -> Command:
    """Validate a parsed command object against the schema (signature is checked separately)."""
    command_id = ackable_id(obj)
    if obj.get("v") != SCHEMA_VERSION:
        raise ContractError(
            RefusalReason.UNSUPPORTED_VERSION,
            f"v: schema version {obj.get('v')!r} is not supported (this node speaks {SCHEMA_VERSION})",
            command_id=command_id,
        )
    if "text" in obj and isinstance(obj["text"], str) and len(obj["text"]) > MAX_TEXT_CHARS:
        raise ContractError(
            RefusalReason.OVERSIZED,
            f"text: {len(obj['text'])} characters, limit is {MAX_TEXT_CHARS}",
            command_id=command_id,
        )
    try:
        return _COMMAND_ADAPTER.validate_python(obj)
    except ValidationError as err:
        raise ContractError(
            RefusalReason.INVALID_SCHEMA, describe_validation_error(err), command_id=command_id
        ) from err


def decode_model(payload: bytes, model: type[M]) -> M:
    """Decode a node → HQ payload (ack, state, health) into ``model`` or raise ContractError."""
    obj = parse_json_object(payload)
    try:
        return model.model_validate(obj)
    except ValidationError as err:
        raise ContractError(RefusalReason.INVALID_SCHEMA, describe_validation_error(err)) from err
