"""One-time enrolment codes at HQ: the node's bundle waits, encrypted, until its code is redeemed once.

The code format (secret + CA pin) is the contract's (:mod:`loaxa_contract.enrolment`). Here the
bundle waits in ``data_dir/enrolments/`` encrypted (AES-GCM) with a key derived from the secret by
scrypt, under a file name derived the same way: the node's clear password never sits on disk, and a
stolen directory does not give codes cheaply. Redeeming renames the file first, so two simultaneous
attempts cannot both succeed; expired files are purged.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from loaxa_contract.enrolment import ALPHABET, SECRET_CHARS


class EnrolmentError(ValueError):
    """A code that cannot be redeemed; ``reason``: unknown (also: already used) or expired."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def new_secret() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(SECRET_CHARS))


@dataclass(frozen=True)
class Pending:
    node: str
    expires_at: dt.datetime


class EnrolmentStore:
    """Encrypted, expiring, one-time bundles keyed by code secrets (see the module docstring)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def _salt(self) -> bytes:
        path = self.root / ".salt"
        with contextlib.suppress(FileExistsError):
            self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(os.urandom(16))
        return path.read_bytes()

    def _derive(self, secret: str) -> tuple[str, bytes]:
        # scrypt (n=2^14, r=8): ~50 ms per code, so a stolen directory costs ~2^40 of these per code
        out = Scrypt(salt=self._salt(), length=48, n=2**14, r=8, p=1).derive(secret.encode())
        return base64.urlsafe_b64encode(out[:16]).decode().rstrip("="), out[16:]

    def create(self, node: str, payload: dict[str, object], ttl_s: float, now: dt.datetime | None = None) -> str:
        """Store ``payload`` for ``node`` under a new secret; returns the secret."""
        now = now or dt.datetime.now(dt.UTC)
        secret = new_secret()
        name, key = self._derive(secret)
        nonce = os.urandom(12)
        body = json.dumps(payload).encode()
        record = {"node": node, "expires_at": (now + dt.timedelta(seconds=ttl_s)).isoformat(),
                  "nonce": base64.b64encode(nonce).decode(),
                  "data": base64.b64encode(AESGCM(key).encrypt(nonce, body, node.encode())).decode()}
        path = self.root / f"{name}.json"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(record, fh)
        return secret

    def redeem(self, secret: str, now: dt.datetime | None = None) -> tuple[str, dict[str, object]]:
        """(node, payload) for a valid code, which is then used up; :class:`EnrolmentError` otherwise."""
        now = now or dt.datetime.now(dt.UTC)
        name, key = self._derive(secret)
        path, taken = self.root / f"{name}.json", self.root / f"{name}.taken"
        try:
            os.rename(path, taken)  # one winner among simultaneous attempts
        except FileNotFoundError:
            raise EnrolmentError("unknown", "unknown or already used enrolment code") from None
        try:
            record = json.loads(taken.read_text())
            if dt.datetime.fromisoformat(record["expires_at"]) <= now:
                raise EnrolmentError("expired", "this enrolment code has expired; ask HQ for a new one")
            node = str(record["node"])
            body = AESGCM(key).decrypt(base64.b64decode(record["nonce"]), base64.b64decode(record["data"]),
                                       node.encode())
            return node, json.loads(body)
        except (InvalidTag, KeyError, ValueError) as err:
            if isinstance(err, EnrolmentError):
                raise
            raise EnrolmentError("unknown", "unknown or already used enrolment code") from err
        finally:
            taken.unlink(missing_ok=True)

    def pending(self, now: dt.datetime | None = None) -> list[Pending]:
        """Codes not used yet and not expired (expired ones are deleted on the way)."""
        now = now or dt.datetime.now(dt.UTC)
        out = []
        for path in sorted(self.root.glob("*.json")) if self.root.exists() else []:
            try:
                record = json.loads(path.read_text())
                expires = dt.datetime.fromisoformat(record["expires_at"])
            except (OSError, KeyError, ValueError):
                continue
            if expires <= now:
                path.unlink(missing_ok=True)
            else:
                out.append(Pending(str(record["node"]), expires))
        return out

    def cancel(self, node: str) -> int:
        """Delete every pending code of ``node`` (re-provisioned or revoked); returns how many."""
        n = 0
        for path in self.root.glob("*.json") if self.root.exists() else []:
            with contextlib.suppress(OSError, ValueError, KeyError):
                if json.loads(path.read_text())["node"] == node:
                    path.unlink()
                    n += 1
        return n
