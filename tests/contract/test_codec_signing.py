"""Codec and signing: precise errors, canonical encoding, forgery detection."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from loaxa_contract import codec, signing
from loaxa_contract.errors import ContractError, RefusalReason
from loaxa_contract.limits import MAX_PAYLOAD_BYTES, MAX_TEXT_CHARS
from loaxa_contract.models import Ack, AckStage, BulletinCommand, Priority


def cmd(**over) -> dict:
    base = {"v": 1, "type": "bulletin", "id": "c1", "seq": 5, "target": "zone:thon-1",
            "expires_at": (datetime.now(UTC) + timedelta(minutes=5)).isoformat(), "bulletin_id": "b1",
            "text": "Xin chào"}
    base.update(over)
    return base


def test_valid_bulletin_decodes() -> None:
    c = codec.validate_command(cmd(priority="emergency"))
    assert isinstance(c, BulletinCommand) and c.priority == Priority.EMERGENCY and c.repeat == 1


@pytest.mark.parametrize(("payload", "reason", "fragment"), [
    (b"{", RefusalReason.MALFORMED_JSON, "line 1"),
    (b"\xff\xfe", RefusalReason.MALFORMED_JSON, "UTF-8"),
    (b"[1, 2]", RefusalReason.MALFORMED_JSON, "JSON object"),
    (b" " * (MAX_PAYLOAD_BYTES + 1), RefusalReason.OVERSIZED, str(MAX_PAYLOAD_BYTES)),
    # found by the fuzz suite: each used to escape as RecursionError / ValueError / UnicodeEncodeError
    (b'{"x": ' + b"[" * 30_000 + b"]" * 30_000 + b"}", RefusalReason.MALFORMED_JSON, "nested deeper"),
    (b'{"x": ' + b"[" * 20 + b"]" * 20 + b"}", RefusalReason.MALFORMED_JSON, "nested deeper"),
    (b'{"x": 1' + b"0" * 5000 + b"}", RefusalReason.MALFORMED_JSON, "invalid number"),
    (b'{"x": NaN}', RefusalReason.MALFORMED_JSON, "invalid number"),
    (b'{"id": "a\\ud800"}', RefusalReason.MALFORMED_JSON, "surrogate"),
    (b'{"\\udfff": 1}', RefusalReason.MALFORMED_JSON, "surrogate"),
])
def test_parse_errors_are_specific(payload: bytes, reason: RefusalReason, fragment: str) -> None:
    with pytest.raises(ContractError) as exc:
        codec.parse_json_object(payload)
    assert exc.value.reason == reason and fragment in exc.value.detail


@pytest.mark.parametrize(("over", "reason", "fragment"), [
    ({"v": 2}, RefusalReason.UNSUPPORTED_VERSION, "v: schema version 2"),
    ({"text": "a" * (MAX_TEXT_CHARS + 1)}, RefusalReason.OVERSIZED, "text: 5001 characters"),
    ({"priority": "urgent"}, RefusalReason.INVALID_SCHEMA, "priority"),
    ({"repeat": 0}, RefusalReason.INVALID_SCHEMA, "repeat"),
    ({"text": "   "}, RefusalReason.INVALID_SCHEMA, "empty 'text'"),
    ({"expires_at": "2026-01-01T00:00:00"}, RefusalReason.INVALID_SCHEMA, "UTC offset"),
    ({"target": "zone:Thôn 1"}, RefusalReason.INVALID_SCHEMA, "target"),
    ({"type": "reboot"}, RefusalReason.INVALID_SCHEMA, "reboot"),
    ({"surprise": 1}, RefusalReason.INVALID_SCHEMA, "surprise"),
    ({"kind": "audio"}, RefusalReason.INVALID_SCHEMA, "needs 'audio'"),
])
def test_schema_errors_name_the_field(over: dict, reason: RefusalReason, fragment: str) -> None:
    with pytest.raises(ContractError) as exc:
        codec.validate_command(cmd(**over))
    assert exc.value.reason == reason
    assert fragment in exc.value.detail
    assert exc.value.command_id == "c1"


def test_canonical_json_is_order_independent_and_excludes_sig() -> None:
    a = {"b": 1, "a": "ệ", "sig": "x"}
    b = {"a": "ệ", "b": 1}
    assert signing.canonical_json(a) == signing.canonical_json(b) == '{"a":"ệ","b":1}'.encode()


def test_sign_verify_and_forgeries(tmp_path) -> None:
    priv, pub = signing.generate_keypair(tmp_path)
    key, pubkey = signing.load_private_key(priv), signing.load_public_key(pub)
    signed = signing.sign(cmd(), key)
    signing.verify(json.loads(json.dumps(signed)), pubkey)  # survives a JSON round trip

    for altered in ({**signed, "text": "khác"}, {**signed, "seq": 6}, {**signed, "extra": 1}):
        with pytest.raises(ContractError) as exc:
            signing.verify(altered, pubkey)
        assert exc.value.reason == RefusalReason.BAD_SIGNATURE

    with pytest.raises(ContractError) as exc:
        signing.verify(cmd(), pubkey)
    assert exc.value.reason == RefusalReason.UNSIGNED
    with pytest.raises(ContractError) as exc:
        signing.verify({**signed, "sig": "!!!"}, pubkey)
    assert exc.value.reason == RefusalReason.BAD_SIGNATURE


def test_keygen_refuses_to_overwrite(tmp_path) -> None:
    signing.generate_keypair(tmp_path)
    assert (tmp_path / "hq_ed25519.key").stat().st_mode & 0o777 == 0o600
    with pytest.raises(FileExistsError):
        signing.generate_keypair(tmp_path)


def test_ack_round_trip_omits_nulls() -> None:
    ack = Ack(node="n1", command_id="c1", stage=AckStage.PLAYED, duration_s=1.5)
    raw = codec.encode(ack)
    assert b"reason" not in raw
    assert codec.decode_model(raw, Ack) == ack
    with pytest.raises(ContractError) as exc:
        codec.decode_model(b'{"node": "n1", "command_id": "c", "stage": "sung"}', Ack)
    assert "stage" in exc.value.detail
