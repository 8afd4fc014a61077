"""The node's command gate under generated and mutated commands: it admits a command or refuses it with a
reason code (what the node puts in its ``rejected`` ack), and never crashes.

Commands are generated from the contract's own schema (every command type of the ``Command`` union,
so a new type is fuzzed automatically), then mutated, and then either signed with HQ's real key (so the
mutation reaches the checks behind the signature: schema, target, expiry, replay) or left with a stale or
broken signature; raw bytes and hostile JSON are thrown too.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, note, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter

from edge_agent.control.gate import CommandGate, ReplayGuard
from loaxa_contract import signing
from loaxa_contract.errors import ContractError, RefusalReason
from loaxa_contract.models import Command
from tests.fuzz.conftest import THROWN, budget
from tests.fuzz.strategies import RAW_BODIES, dumps, mutated, schema_values

pytestmark = [pytest.mark.timeout(1200), pytest.mark.fuzz]
SCHEMA = TypeAdapter(Command).json_schema()
NODE, ZONES = "loa-1", ["thon-1"]
TARGETS = st.sampled_from(["all", "zone:thon-1", "node:loa-1", "zone:thon-2", "node:loa-2", "node:", "x"])


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Any]:
    priv, pub = signing.generate_keypair(tmp_path_factory.mktemp("gate-keys"))
    return signing.load_private_key(priv), signing.load_public_key(pub)


@st.composite
def commands(draw: st.DrawFn) -> dict[str, Any]:
    """A command of some type, with the envelope fields a real HQ would set (mostly)."""
    value = draw(schema_values(SCHEMA))
    if not isinstance(value, dict):
        return {"v": 1, "value": value}
    now = datetime.now(UTC)
    value.update(v=1, seq=draw(st.integers(min_value=1, max_value=2**62)), target=draw(TARGETS),
                 expires_at=(now + timedelta(seconds=draw(st.integers(-60, 3600)))).isoformat(),
                 ts=now.isoformat())
    value.pop("sig", None)
    return value


@st.composite
def payloads(draw: st.DrawFn, private_key: Any) -> bytes:
    choice = draw(st.sampled_from(["signed", "signed", "mutated-signed", "mutated-signed", "mutated-unsigned",
                                   "bytes-flipped", "raw"]))
    if choice == "raw":
        return draw(RAW_BODIES)
    command = draw(commands())
    if choice == "mutated-signed":
        command = draw(mutated(st.just(command)))
    if not isinstance(command, dict):
        return dumps(command)
    try:
        signed = signing.sign(command, private_key)
    except (TypeError, ValueError, RecursionError):  # what HQ's signer could not sign, sent unsigned
        return dumps(command)
    if choice == "mutated-unsigned":
        signed = draw(mutated(st.just(signed)))
    raw = dumps(signed) if choice != "signed" else json.dumps(signed, ensure_ascii=False).encode()
    if choice == "bytes-flipped" and raw:
        at = draw(st.integers(0, len(raw) - 1))
        raw = raw[:at] + bytes([raw[at] ^ draw(st.integers(1, 255))]) + raw[at + 1:]
    return raw


@settings(max_examples=budget("gate"))
@given(data=st.data())
def test_gate_admits_or_refuses_with_a_reason(keys, data: st.DataObject) -> None:
    private_key, public_key = keys
    payload = data.draw(payloads(private_key))
    note(f"payload {payload[:500]!r}")
    THROWN["gate"] += 1
    gate = CommandGate(NODE, ZONES, public_key, ReplayGuard())
    try:
        command = gate.admit(payload)
    except ContractError as err:
        assert err.reason in RefusalReason and err.detail.strip(), f"refusal without a reason: {err!r}"
        return
    assert command.target in ("all", "zone:thon-1", "node:loa-1")  # admitted only what is for this node
    assert command.expires_at > datetime.now(UTC) - timedelta(seconds=5)


def test_a_deeply_nested_signed_command_is_refused_with_a_reason(keys) -> None:
    """The cases seen as internal errors on nodes: deep nesting and an id over 64 characters."""
    private_key, public_key = keys
    now = datetime.now(UTC)
    base = {"v": 1, "type": "ping", "id": "c1", "seq": 1, "target": "all", "ts": now.isoformat(),
            "expires_at": (now + timedelta(minutes=5)).isoformat()}
    deep: Any = []
    for _ in range(900):
        deep = [deep]
    raw_deep = dumps(base)[:-1] + b', "x": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    for payload in (dumps(signing.sign({**base, "x": deep}, private_key)), raw_deep,
                    dumps(signing.sign({**base, "id": "a" * 100}, private_key))):
        with pytest.raises(ContractError) as err:
            CommandGate(NODE, ZONES, public_key, ReplayGuard()).admit(payload)
        assert err.value.reason in RefusalReason and err.value.detail
