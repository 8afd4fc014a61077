"""The enrolment contract between HQ and a new node: the code a technician types, and the bundle it buys.

A code has two parts, shown as ``K7QM-2XPA-9F3D-HT6W-QC8N``:

* the **secret** (8 characters, 40 bits): HQ looks up and decrypts the node's bundle with it, once;
* the **pin** (12 characters, 60 bits of the CA certificate's SHA-256): lets the node trust HQ's HTTPS
  and the broker's CA without a public certificate. The node fetches the CA, checks it against the
  pin, and then talks to HQ only over TLS verified by that CA; the bundle's CA must match the pin too.
  Finding another CA with the same 60-bit pin is out of reach within a code's lifetime.

Characters are Crockford's base32 (no I, L, O, U), so a code read aloud survives 0/O and 1/I/L
mix-ups, which :func:`parse_code` folds back. The bundle travels as JSON: the node's files by name.
Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
SECRET_CHARS = 8
PIN_CHARS = 12
BUNDLE_FILES = ("node.yaml", "ca.crt", "hq_ed25519.pub", "mqtt-password")
ENROL_PATH = "/api/v1/enrol"
CA_PATH = "/api/v1/enrol/ca"
_FOLD = str.maketrans({"O": "0", "I": "1", "L": "1", "U": "V"})


class EnrolmentCodeError(ValueError):
    """What was typed cannot be an enrolment code."""


def pin_of(sha256_hex: str) -> str:
    """The first 60 bits of a certificate's SHA-256 (hex), as 12 base32 characters."""
    bits = int(sha256_hex[:16], 16) >> 4
    return "".join(ALPHABET[(bits >> (5 * i)) & 31] for i in reversed(range(PIN_CHARS)))


def format_code(secret: str, pin: str | None) -> str:
    raw = secret + (pin or "")
    return "-".join(raw[i:i + 4] for i in range(0, len(raw), 4))


def parse_code(text: str) -> tuple[str, str | None]:
    """(secret, pin or None) from what a technician typed: case, dashes, spaces and look-alikes forgiven."""
    raw = "".join(ch for ch in text.upper() if ch.isalnum()).translate(_FOLD)
    if len(raw) not in (SECRET_CHARS, SECRET_CHARS + PIN_CHARS) or any(ch not in ALPHABET for ch in raw):
        raise EnrolmentCodeError(f"an enrolment code has {SECRET_CHARS} or {SECRET_CHARS + PIN_CHARS} letters and "
                                 "digits")
    return raw[:SECRET_CHARS], raw[SECRET_CHARS:] or None


@dataclass
class Bundle:
    """A node's files (``BUNDLE_FILES``) and the fingerprints a technician can compare with HQ's screen."""

    node: str
    files: dict[str, bytes] = field(default_factory=dict)
    ca_fingerprint: str = ""
    hq_key_fingerprint: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"node": self.node, "ca_fingerprint": self.ca_fingerprint,
                "hq_key_fingerprint": self.hq_key_fingerprint,
                "files": {name: data.decode("utf-8") for name, data in self.files.items()}}

    @classmethod
    def from_json(cls, obj: object) -> Bundle:
        if not isinstance(obj, dict):
            raise ValueError("a bundle is a JSON object")
        files = obj.get("files")
        if not isinstance(files, dict) or set(files) != set(BUNDLE_FILES):
            raise ValueError(f"a bundle has exactly the files {', '.join(BUNDLE_FILES)}")
        if not all(isinstance(v, str) for v in files.values()) or not isinstance(obj.get("node"), str):
            raise ValueError("bundle files and node id are text")
        return cls(node=obj["node"], files={str(k): v.encode("utf-8") for k, v in files.items()},
                   ca_fingerprint=str(obj.get("ca_fingerprint", "")),
                   hq_key_fingerprint=str(obj.get("hq_key_fingerprint", "")))
