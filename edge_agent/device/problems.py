"""What is wrong with this node right now, as machine-readable codes HQ can alert on.

The health report carries them (``problems``: code → short detail). Codes in use:

* ``worker_restarted:<name>`` — a worker task (player, programme, health) crashed and was restarted;
* ``duplicate_node_id`` — the broker handed this node's session to another client with the same id;
* ``outbox_unreadable`` — stored acks that could not be decoded were moved aside;
* ``audio_output`` — the audio device failed while playing.

A problem stays listed until the code that raised it clears it (or the agent restarts): a node that
had to restart its player is worth a look even once it plays again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

logger = logging.getLogger(__name__)

MAX_PROBLEMS = 20


class Problems:
    def __init__(self) -> None:
        self._items: dict[str, str] = {}
        self.on_change: Callable[[], None] = lambda: None

    def report(self, code: str, detail: str) -> None:
        detail = detail[:200]
        if self._items.get(code) == detail:
            return
        if code not in self._items and len(self._items) >= MAX_PROBLEMS:
            logger.error("problem %s not listed (already %d problems): %s", code, MAX_PROBLEMS, detail)
            return
        logger.warning("node problem %s: %s", code, detail)
        self._items[code] = detail
        self.on_change()

    def clear(self, code: str) -> None:
        if self._items.pop(code, None) is not None:
            logger.info("node problem %s cleared", code)
            self.on_change()

    def snapshot(self) -> dict[str, str] | None:
        """For the health report: None when all is well (keeps the payload unchanged)."""
        return dict(self._items) if self._items else None

    def __contains__(self, code: str) -> bool:
        return code in self._items
