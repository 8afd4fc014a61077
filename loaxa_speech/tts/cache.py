"""On-disk TTS cache: the file name is the index, writes are atomic, size is capped (LRU).

Key = SHA-256 of the normalised text, engine, voice and rate (canonical JSON). The file is
``{key}.{fmt}``; the in-memory view is rebuilt by listing the directory, so nothing can disagree with
the files after a power cut. Writes go temp → fsync → ``os.replace`` (a truncated file is never
served). Use refreshes the modification time; eviction removes the least recently used files until
the directory is under ``max_bytes``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import threading
from pathlib import Path

from loaxa_common.files import atomic_write_bytes

logger = logging.getLogger(__name__)

_FORMATS = ("wav", "mp3", "ogg", "opus")


def cache_key(text: str, engine: str, voice: str, rate_wpm: int) -> str:
    blob = json.dumps({"engine": engine, "rate": rate_wpm, "text": text, "voice": voice},
                      ensure_ascii=False, sort_keys=True)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class TtsCache:
    def __init__(self, directory: Path, max_bytes: int = 200 * 1024 * 1024) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0
        for stale in self.directory.glob(".*.tmp"):
            stale.unlink(missing_ok=True)

    def _files(self) -> list[Path]:
        return [p for p in self.directory.iterdir() if not p.name.startswith(".") and p.suffix[1:] in _FORMATS]

    def get(self, key: str) -> tuple[bytes, str] | None:
        for fmt in _FORMATS:
            path = self.directory / f"{key}.{fmt}"
            try:
                data = path.read_bytes()
            except FileNotFoundError:
                continue
            if not data:  # cannot happen with atomic writes; never serve it anyway
                path.unlink(missing_ok=True)
                continue
            with contextlib.suppress(OSError):
                os.utime(path)
            self.hits += 1
            return data, fmt
        self.misses += 1
        return None

    def put(self, key: str, data: bytes, fmt: str) -> Path:
        if not data:
            raise ValueError("refusing to cache empty audio")
        if fmt not in _FORMATS:
            raise ValueError(f"unknown audio format {fmt!r}")
        path = self.directory / f"{key}.{fmt}"
        atomic_write_bytes(path, data)
        self.evict()
        return path

    def size_bytes(self) -> int:
        total = 0
        for p in self._files():
            with contextlib.suppress(FileNotFoundError):
                total += p.stat().st_size
        return total

    def evict(self) -> int:
        """Remove least recently used files until under the cap; returns how many were removed."""
        with self._lock:
            entries = []
            for p in self._files():
                with contextlib.suppress(FileNotFoundError):
                    st = p.stat()
                    entries.append((st.st_mtime_ns, st.st_size, p))
            total = sum(e[1] for e in entries)
            removed = 0
            for _, size, path in sorted(entries):
                if total <= self.max_bytes:
                    break
                path.unlink(missing_ok=True)
                total -= size
                removed += 1
            if removed:
                logger.info("tts cache: evicted %d file(s), %d bytes left", removed, total)
            return removed
