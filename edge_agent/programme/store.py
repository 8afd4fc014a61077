"""Accepted bulletins on disk until they are done: the node's memory across reboots.

One JSON file per bulletin (``bulletins/{id}.json``, the verified command as received), written
atomically; removed when the bulletin reaches a terminal state. A bounded list of finished ids
stops an HQ re-send or a QoS 1 duplicate from playing a bulletin twice.
"""

from __future__ import annotations

import logging
from pathlib import Path

from loaxa_common.files import atomic_write_json, read_json
from loaxa_contract.models import BulletinCommand

logger = logging.getLogger(__name__)

MAX_REMEMBERED = 2000


class BulletinStore:
    def __init__(self, state_dir: Path) -> None:
        self.directory = state_dir / "bulletins"
        self.directory.mkdir(parents=True, exist_ok=True)
        self._done_path = state_dir / "bulletins_done.json"
        self._done: list[str] = read_json(self._done_path, [])
        self._done_set = set(self._done)

    def put(self, cmd: BulletinCommand) -> None:
        atomic_write_json(self.directory / f"{cmd.bulletin_id}.json", cmd.model_dump(mode="json"))

    def get(self, bulletin_id: str) -> BulletinCommand | None:
        obj = read_json(self.directory / f"{bulletin_id}.json", None)
        if obj is None:
            return None
        try:
            return BulletinCommand.model_validate(obj)
        except ValueError as err:
            logger.error("stored bulletin %s is unreadable (%s); dropped", bulletin_id, err)
            self.remove(bulletin_id)
            return None

    def remove(self, bulletin_id: str) -> None:
        (self.directory / f"{bulletin_id}.json").unlink(missing_ok=True)

    def ids(self) -> list[str]:
        return sorted(p.stem for p in self.directory.glob("*.json"))

    def all(self) -> list[BulletinCommand]:
        cmds = [c for c in map(self.get, self.ids()) if c is not None]
        return sorted(cmds, key=lambda c: c.seq)

    def finish(self, bulletin_id: str, *, remember: bool = True) -> None:
        """The bulletin reached a terminal state: forget its command, remember its id (blocking).

        ``remember=False`` for a series whose copy expired here: HQ may renew it (same id, later expiry),
        and the renewal must not be refused as a duplicate of what this node already finished."""
        self.remove(bulletin_id)
        if remember:
            self.remember_done(bulletin_id)

    def is_done(self, bulletin_id: str) -> bool:
        return bulletin_id in self._done_set

    def remember_done(self, bulletin_id: str) -> None:
        if bulletin_id in self._done_set:
            return
        self._done.append(bulletin_id)
        del self._done[:-MAX_REMEMBERED]
        self._done_set = set(self._done)
        atomic_write_json(self._done_path, self._done)
