"""Ed25519 command signing over a canonical JSON encoding.

The signature covers every field of the command except ``sig`` itself, encoded as JSON with sorted
keys, no insignificant whitespace and UTF-8 text. The node verifies over the object exactly as it
arrived (not over a re-serialised model), so a field the model would normalise cannot slip through.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from loaxa_contract.errors import ContractError, RefusalReason


def canonical_json(obj: dict[str, Any]) -> bytes:
    """Deterministic bytes for ``obj`` without its ``sig``: what is signed and verified."""
    unsigned = {k: v for k, v in obj.items() if k != "sig"}
    return json.dumps(unsigned, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def sign(obj: dict[str, Any], key: Ed25519PrivateKey) -> dict[str, Any]:
    """Return a copy of ``obj`` with ``sig`` set."""
    signature = key.sign(canonical_json(obj))
    return {**obj, "sig": base64.urlsafe_b64encode(signature).decode("ascii").rstrip("=")}


def verify(obj: dict[str, Any], key: Ed25519PublicKey) -> None:
    """Raise :class:`ContractError` (``unsigned`` / ``bad_signature``) unless ``obj`` is signed by ``key``."""
    command_id = obj.get("id") if isinstance(obj.get("id"), str) else None
    sig = obj.get("sig")
    if not sig:
        raise ContractError(RefusalReason.UNSIGNED, "command has no 'sig' field", command_id=command_id)
    if not isinstance(sig, str):
        raise ContractError(RefusalReason.BAD_SIGNATURE, "'sig' must be a base64url string", command_id=command_id)
    try:
        raw = base64.urlsafe_b64decode(sig + "=" * (-len(sig) % 4))
    except ValueError as err:
        raise ContractError(
            RefusalReason.BAD_SIGNATURE, "'sig' is not valid base64url", command_id=command_id
        ) from err
    try:
        key.verify(raw, canonical_json(obj))
    except InvalidSignature as err:
        raise ContractError(
            RefusalReason.BAD_SIGNATURE,
            "signature does not match the HQ public key (forged or altered command)",
            command_id=command_id,
        ) from err


# ---------------------------------------------------------------- key files


def generate_keypair(directory: Path, name: str = "hq_ed25519") -> tuple[Path, Path]:
    """Write ``name.key`` (PEM PKCS#8, mode 0600) and ``name.pub`` (PEM) and return their paths.

    Refuses to overwrite an existing private key: replacing it silently would lock every node out.
    """
    directory.mkdir(parents=True, exist_ok=True)
    priv_path, pub_path = directory / f"{name}.key", directory / f"{name}.pub"
    if priv_path.exists():
        raise FileExistsError(f"{priv_path} already exists; move it away first to make a new key pair")
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    fd = os.open(priv_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
    pub_path.write_bytes(public_pem(key.public_key()))
    return priv_path, pub_path


def fingerprint(key: Ed25519PublicKey | Ed25519PrivateKey) -> str:
    """Short, comparable name of a key pair: first 16 bytes of SHA-256 over the raw public key, in hex
    groups (``3f2a:9c1b:…``). HQ prints it at ``keygen`` and ``run``, a node's ``check-config`` and
    ``doctor`` print it for the key they hold: a technician compares them by eye or over the phone."""
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    digest = hashlib.sha256(raw).hexdigest()[:32]
    return ":".join(digest[i : i + 4] for i in range(0, 32, 4))


def public_pem(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def load_private_key(path: Path) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    except FileNotFoundError:
        raise
    except ValueError as err:
        raise ValueError(f"{path}: not a PEM private key ({err})") from err
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path}: key is not Ed25519")
    return key


def load_public_key(path: Path) -> Ed25519PublicKey:
    try:
        key = serialization.load_pem_public_key(Path(path).read_bytes())
    except FileNotFoundError:
        raise
    except ValueError as err:
        raise ValueError(f"{path}: not a PEM public key ({err})") from err
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError(f"{path}: key is not Ed25519")
    return key
