"""Store and forward: acks and health reports kept on disk while the broker is unreachable.

One file per message in ``state_dir/outbox``; the file name is the index (``{seq:012d}-{kind}.json``),
so the order survives a reboot without a separate index that could disagree. Each file is written
temp + fsync + ``os.replace``, so a power cut leaves either the whole message or none of it.

Bounds: health reports are advisory and numerous, so at most ``max_health`` are kept and the oldest
are dropped first; acks are the proof of play and are never dropped.
"""

from __future__ import annotations

import contextlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from loaxa_common.files import atomic_write_bytes

logger = logging.getLogger(__name__)

ACK = "ack"
HEALTH = "health"
UNREADABLE = "unreadable"
"""Sub-directory for entries that could not be decoded: out of the queue, kept for inspection."""


@dataclass(frozen=True)
class Entry:
    path: Path
    seq: int
    kind: str
    offline: bool  # produced while the link was down: sent later as ``historical``

    def read(self) -> bytes:
        return self.path.read_bytes()


def _parse(path: Path) -> Entry | None:
    stem, _, ext = path.name.partition(".")
    parts = stem.split("-")
    if ext != "json" or len(parts) != 3 or not parts[0].isdigit() or parts[1] not in (ACK, HEALTH):
        return None
    return Entry(path, int(parts[0]), parts[1], parts[2] == "off")


class DiskOutbox:
    def __init__(self, directory: Path, *, max_health: int = 500) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.max_health = max_health
        for stale in self.directory.glob(".*.tmp"):  # a write interrupted by a power cut
            stale.unlink(missing_ok=True)
        entries = self.entries()
        self._next = (entries[-1].seq + 1) if entries else 0
        self.dropped_health = 0

    def entries(self) -> list[Entry]:
        found = [e for e in map(_parse, self.directory.iterdir()) if e is not None]
        return sorted(found, key=lambda e: e.seq)

    def put(self, kind: str, payload: bytes, *, offline: bool) -> Entry:
        seq, self._next = self._next, self._next + 1
        path = self.directory / f"{seq:012d}-{kind}-{'off' if offline else 'on'}.json"
        atomic_write_bytes(path, payload)
        if kind == HEALTH:
            self._bound_health()
        return Entry(path, seq, kind, offline)

    def remove(self, entry: Entry) -> None:
        entry.path.unlink(missing_ok=True)

    def set_aside(self, entry: Entry) -> Path:
        """Move an entry that cannot be sent to ``unreadable/`` (kept for inspection, out of the queue)."""
        aside = self.directory / UNREADABLE
        aside.mkdir(exist_ok=True)
        target = aside / entry.path.name
        with contextlib.suppress(FileNotFoundError):
            os.replace(entry.path, target)
        return target

    def _bound_health(self) -> None:
        health = [e for e in self.entries() if e.kind == HEALTH]
        for old in health[: max(0, len(health) - self.max_health)]:
            self.remove(old)
            self.dropped_health += 1

    def __len__(self) -> int:
        return len(self.entries())

    def disk_bytes(self) -> int:
        return sum(os.path.getsize(p) for p in self.directory.glob("*.json"))
