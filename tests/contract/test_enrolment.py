"""Enrolment codes: forgiving to type, strict about what they are; the bundle's wire format."""

from __future__ import annotations

import hashlib

import pytest

from loaxa_contract.enrolment import (
    ALPHABET,
    BUNDLE_FILES,
    Bundle,
    EnrolmentCodeError,
    format_code,
    parse_code,
    pin_of,
)


def test_pin_is_60_bits_of_the_fingerprint() -> None:
    fp = hashlib.sha256(b"ca").hexdigest()
    pin = pin_of(fp)
    assert len(pin) == 12 and set(pin) <= set(ALPHABET)
    value = 0
    for ch in pin:
        value = value * 32 + ALPHABET.index(ch)
    assert value == int(fp[:16], 16) >> 4
    assert pin_of(hashlib.sha256(b"other").hexdigest()) != pin


def test_format_and_parse_round_trip_with_typing_slips() -> None:
    code = format_code("K7QM2XPA", "9F3DHT6WQC8N")
    assert code == "K7QM-2XPA-9F3D-HT6W-QC8N"
    assert parse_code(code) == ("K7QM2XPA", "9F3DHT6WQC8N")
    assert parse_code(" k7qm 2xpa-9f3d-ht6w-qc8n ") == ("K7QM2XPA", "9F3DHT6WQC8N")
    assert parse_code("1O1O-1I1L") == ("10101111", None)  # O→0, I/L→1 read over the phone
    for bad in ("", "K7QM-2XP", "K7QM-2XPA-9F3D", "K7QM-2XPA-9F3D-HT6W-QC8N-X", "K7QM-2XP!"):
        with pytest.raises(EnrolmentCodeError):
            parse_code(bad)


def test_bundle_json_round_trip_and_refusals() -> None:
    b = Bundle("loa-1", {name: f"{name} nội dung".encode() for name in BUNDLE_FILES}, "ab" * 32, "cd" * 32)
    assert Bundle.from_json(b.to_json()) == b
    for broken in ([], {"node": "x"}, {"node": "x", "files": {"node.yaml": "a"}},
                   {"node": 3, "files": {n: "a" for n in BUNDLE_FILES}},
                   {"node": "x", "files": {**{n: "a" for n in BUNDLE_FILES}, "../evil": "a"}}):
        with pytest.raises(ValueError):
            Bundle.from_json(broken)
