"""Signs commands for publication: fills id, seq, expiry and the Ed25519 signature.

The sequence is microseconds since the epoch, never lower than the last one issued (persisted
under a file lock), so it keeps growing across HQ restarts and between the server and the CLI.
"""

from __future__ import annotations

import fcntl
import os
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter

from loaxa_contract import signing
from loaxa_contract.models import Command, utcnow

_ADAPTER: TypeAdapter[Command] = TypeAdapter(Command)


class SequenceSource:
    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)

    def next(self) -> int:
        return self.block(1)[0]

    def block(self, n: int) -> range:
        """``n`` consecutive sequence numbers, persisted with one write and one fsync (a broadcast of 200
        commands would otherwise wait for 200 fsyncs)."""
        with open(self.path, "a+") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            fh.seek(0)
            raw = fh.read().strip()
            last = int(raw) if raw.isdigit() else 0
            first = max(last + 1, time.time_ns() // 1000)
            fh.seek(0)
            fh.truncate()
            fh.write(str(first + n - 1))
            fh.flush()
            os.fsync(fh.fileno())
        return range(first, first + n)


class CommandSigner:
    def __init__(self, key_path: Path, seq_path: Path) -> None:
        self.key = signing.load_private_key(key_path)
        self.seq = SequenceSource(seq_path)

    def build(self, command_type: str, *, target: str, ttl_s: float, seq: int | None = None,
              **fields: Any) -> dict[str, Any]:
        """Validate a command of ``command_type`` and return its signed wire dict.

        Validation here means HQ cannot publish what the nodes would refuse as malformed. ``seq``: one of a
        block from :meth:`SequenceSource.block` (else the next one is taken).
        """
        now = utcnow()
        body = {
            "v": 1, "type": command_type, "id": fields.pop("id", None) or uuid.uuid4().hex[:16],
            "seq": seq if seq is not None else self.seq.next(), "target": target, "ts": now.isoformat(),
            "expires_at": (now + timedelta(seconds=ttl_s)).isoformat(), **fields,
        }
        model = _ADAPTER.validate_python(body)
        wire = model.model_dump(mode="json", exclude_none=True)
        return signing.sign(wire, self.key)
