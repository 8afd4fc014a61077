"""Run records: plays that fell due or started, on disk until they are reported finished.

The bulletin store keeps what was *accepted*; a run record keeps what was *under way* — an
occurrence of a series whose job fired (``due``), or any bulletin whose audio started (``playing``).
The job store cannot say this (APScheduler moves a series to its next occurrence when the job
fires), and neither can the queue (memory). So at start-up the node knows, for each record:

* ``due`` — an occurrence that fell due and had not started: queued again (or reported missed);
* ``playing`` — playback a restart cut: reported ``interrupted``, then replayed or dropped by
  :mod:`edge_agent.programme.recovery`;
* ``done`` — the outcome was decided (its terminal ack is in the record): the same ack is sent
  again (HQ takes it as the duplicate it may be) and the bulletin finished — never played again.

One JSON file per run, ``runs/{bulletin_id}.json`` for a one-off bulletin and
``runs/{bulletin_id}@{occurrence}.json`` for an occurrence, written atomically (temp + fsync +
rename) before the ``playing`` ack; removed once the play's outcome is acked. Blocking: call from a
worker thread.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from loaxa_common.files import atomic_write_json, read_json

logger = logging.getLogger(__name__)

RunState = Literal["due", "playing", "done"]


@dataclass(frozen=True)
class Run:
    bulletin_id: str
    command_id: str
    occurrence: str  # ISO instant of a series occurrence; "" for a one-off bulletin
    state: RunState
    started_at: datetime | None = None  # when the audio started (state "playing")
    replays: int = 0  # replays made after earlier interruptions
    ack: str | None = None  # state "done": the outcome's ack (JSON), journalled before it is sent

    @property
    def key(self) -> str:
        if not self.occurrence:
            return self.bulletin_id
        return f"{self.bulletin_id}@{self.occurrence.replace(':', '').replace('+', 'p')}"

    def playing(self, started_at: datetime) -> Run:
        return replace(self, state="playing", started_at=started_at)

    def to_json(self) -> dict[str, Any]:
        return {"bulletin_id": self.bulletin_id, "command_id": self.command_id, "occurrence": self.occurrence,
                "state": self.state, "replays": self.replays, "ack": self.ack,
                "started_at": self.started_at.isoformat() if self.started_at else None}

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> Run:
        started = obj.get("started_at")
        state = obj["state"]
        if state not in ("due", "playing", "done"):
            raise ValueError(f"unknown run state {state!r}")
        return cls(str(obj["bulletin_id"]), str(obj["command_id"]), str(obj.get("occurrence") or ""), state,
                   datetime.fromisoformat(started) if started else None, int(obj.get("replays", 0)),
                   obj.get("ack"))


class RunStore:
    def __init__(self, state_dir: Path) -> None:
        self.directory = state_dir / "runs"
        self.directory.mkdir(parents=True, exist_ok=True)

    def _path(self, run: Run) -> Path:
        return self.directory / f"{run.key}.json"

    def put(self, run: Run) -> None:
        atomic_write_json(self._path(run), run.to_json())

    def remove(self, run: Run) -> None:
        self._path(run).unlink(missing_ok=True)

    def all(self) -> list[Run]:
        runs = []
        for path in sorted(self.directory.glob("*.json")):
            obj = read_json(path, None)
            if obj is None:
                continue  # a corrupt file was moved aside by read_json (and logged)
            try:
                runs.append(Run.from_json(obj))
            except (KeyError, TypeError, ValueError) as err:
                logger.error("run record %s is unreadable (%s); moved aside", path.name, err)
                path.rename(path.with_suffix(".json.corrupt"))
        return runs
