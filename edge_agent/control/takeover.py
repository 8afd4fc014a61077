"""Duplicate node id: the broker took this node's session over, as it does for a second client with
the same id. The agent records each takeover here so ``edge-agent doctor`` can tell the technician
even while the agent is running (the doctor must not connect with the node's own client id: that
would take the session from the agent itself).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from loaxa_common.files import atomic_write_json, read_json

MARKER = "duplicate_node_id.json"


@dataclass(frozen=True)
class Takeovers:
    count: int
    last_at: datetime


def record(state_dir: Path, count: int, at: datetime) -> None:
    """Blocking (fsync): call from a worker thread."""
    atomic_write_json(state_dir / MARKER, {"count": count, "last_at": at.isoformat()})


def read(state_dir: Path) -> Takeovers | None:
    obj = read_json(state_dir / MARKER, None)
    if not isinstance(obj, dict):
        return None
    try:
        return Takeovers(int(obj["count"]), datetime.fromisoformat(obj["last_at"]))
    except (KeyError, TypeError, ValueError):
        return None
