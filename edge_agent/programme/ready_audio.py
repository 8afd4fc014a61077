"""Final WAVs rendered ahead of their start, on disk, and the thread pool that prepares them.

A timed bulletin is rendered when it is admitted (:func:`edge_agent.programme.readiness.render_ahead`);
its WAV waits here, ``state/cache/ready/{bulletin}~{command}~v{volume}.wav``, so memory holds only the
item about to play, and a restart finds it again (a restored bulletin is not rendered twice). Files are
removed when the bulletin is finished, and at start-up for bulletins the node no longer holds.

Writes are temp + rename without ``fsync``: a file a power cut truncated is detected on reading (its
RIFF size does not match) and discarded — the player renders again, nothing wrong is ever played.

Preparation (downloads, synthesis, rendering) runs on its own small pool, not the event loop's default
one: the start of a play writes its run record and ``playing`` ack in worker threads, and those must
never queue behind a long download of another bulletin (or, in a simulated fleet, of a thousand other
nodes in the same process).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import tempfile
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from edge_agent.programme.readiness import ready_name, ready_prefix

logger = logging.getLogger(__name__)

T = TypeVar("T")

PREPARE_THREADS = 2
"""Downloads and renders at once per process: a node prepares one bulletin at a time, and a second
thread keeps a slow download from holding up the next bulletin's local synthesis."""

_pool: ThreadPoolExecutor | None = None


def _preparation_pool() -> ThreadPoolExecutor:
    global _pool
    if _pool is None:
        _pool = ThreadPoolExecutor(max_workers=PREPARE_THREADS, thread_name_prefix="loaxa-prepare")
    return _pool


async def in_preparation_pool(fn: Callable[..., T], *args: object) -> T:
    """Run blocking preparation work (download, synthesis, render) off the event loop and off the
    default pool that the start's durable records use."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_preparation_pool(), functools.partial(fn, *args))


def complete_wav(data: bytes) -> bool:
    """A whole RIFF/WAVE file: its header's size matches its length (a truncated write does not)."""
    return (len(data) >= 44 and data[:4] == b"RIFF" and data[8:12] == b"WAVE"
            and int.from_bytes(data[4:8], "little") + 8 == len(data))


class ReadyAudio:
    """Rendered WAVs by (bulletin, command, volume). Blocking: call from a worker thread."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)

    def path(self, bulletin_id: str, command_id: str, volume: int) -> Path:
        return self.directory / ready_name(bulletin_id, command_id, volume)

    def has(self, bulletin_id: str, command_id: str, volume: int) -> bool:
        return self.path(bulletin_id, command_id, volume).exists()

    def put(self, bulletin_id: str, command_id: str, volume: int, wav: bytes) -> None:
        """Keep ``wav`` for this bulletin, command and volume; older renderings of the bulletin go."""
        final = self.path(bulletin_id, command_id, volume)
        self.discard(bulletin_id, keep=final.name)
        fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".ready.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(wav)
            os.replace(tmp, final)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)

    def get(self, bulletin_id: str, command_id: str, volume: int) -> bytes | None:
        """The WAV rendered ahead, or None (never rendered, another volume, or damaged: then removed)."""
        path = self.path(bulletin_id, command_id, volume)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        if not complete_wav(data):
            logger.error("rendered audio %s is incomplete; it will be rendered again", path.name)
            path.unlink(missing_ok=True)
            return None
        return data

    def discard(self, bulletin_id: str, *, keep: str | None = None) -> None:
        prefix = ready_prefix(bulletin_id)
        for p in self.directory.iterdir():
            if p.name.startswith(prefix) and p.name != keep:
                p.unlink(missing_ok=True)

    def sweep(self, held: Iterable[str]) -> int:
        """At start-up: remove the WAVs of bulletins the node no longer holds, and stray temp files."""
        keep = tuple(ready_prefix(b) for b in held)
        removed = 0
        for p in self.directory.iterdir():
            if not p.name.startswith(keep) or p.name.startswith(".ready."):
                p.unlink(missing_ok=True)
                removed += 1
        return removed

    def size_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.directory.glob("*.wav"))
