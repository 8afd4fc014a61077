"""Audio sinks: where a node sends the audio it plays.

* ``alsa`` plays through ``aplay`` on a real Pi's sound card.
* ``file`` writes exactly the WAV it would play and a timestamped log line, then takes as long as
  the audio lasts (a real-time clock stands in for the sound card), so that cancel and preemption are
  real in CI, where ``aplay -D null`` would return at once.
* ``null`` plays nothing and returns at once (benchmarks).

Every ``play`` is cancellable: cancelling the awaiting task stops the audio and the report says how
much was played.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import shutil
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol

from edge_agent.playback.loudness import wav_stats
from loaxa_common.files import atomic_write_bytes
from loaxa_contract.models import utcnow

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PlayReport:
    started_at: datetime
    ended_at: datetime
    duration_s: float
    loudness_dbfs: float
    completed: bool


class AudioSink(Protocol):
    name: str

    async def play(self, wav: bytes, *, label: str) -> PlayReport: ...

    def available(self) -> tuple[bool, str]: ...


def _safe_label(label: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", label)[:80] or "audio"


class NullSink:
    name = "null"

    async def play(self, wav: bytes, *, label: str) -> PlayReport:
        now = utcnow()
        duration, dbfs = wav_stats(wav)
        return PlayReport(now, now, duration, dbfs, True)

    def available(self) -> tuple[bool, str]:
        return True, "null sink discards audio"


class FileSink:
    """Writes each played WAV to ``directory`` and appends to ``directory/play.log``."""

    name = "file"

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)

    async def play(self, wav: bytes, *, label: str) -> PlayReport:
        duration, dbfs = wav_stats(wav)
        started = utcnow()
        path = self.directory / f"{started.strftime('%Y%m%dT%H%M%S.%fZ')}_{_safe_label(label)}.wav"
        await asyncio.to_thread(atomic_write_bytes, path, wav)
        self._log(f"{started.isoformat()} start {path.name} {duration:.3f}s {dbfs:.1f}dBFS")
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        try:
            await asyncio.sleep(duration)
        except asyncio.CancelledError:
            self._log(f"{utcnow().isoformat()} cut {path.name} after {loop.time() - t0:.3f}s")
            raise
        ended = utcnow()
        self._log(f"{ended.isoformat()} end {path.name}")
        return PlayReport(started, ended, duration, dbfs, True)

    def _log(self, line: str) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        with open(self.directory / "play.log", "a", encoding="utf-8") as fh:
            fh.write(line + "\n")

    def available(self) -> tuple[bool, str]:
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            return False, f"cannot create {self.directory}: {err}"
        return True, f"writing to {self.directory}"


class AlsaSink:
    """Plays through ``aplay -D device``; cancelling kills aplay."""

    name = "alsa"

    def __init__(self, device: str = "default") -> None:
        self.device = device

    async def play(self, wav: bytes, *, label: str) -> PlayReport:
        duration, dbfs = wav_stats(wav)
        with tempfile.NamedTemporaryFile(suffix=".wav", delete=False) as fh:
            fh.write(wav)
            tmp = Path(fh.name)
        started = utcnow()
        proc = await asyncio.create_subprocess_exec(
            "aplay", "-q", "-D", self.device, str(tmp),
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        )
        try:
            _, err = await proc.communicate()
        except asyncio.CancelledError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
            raise
        finally:
            tmp.unlink(missing_ok=True)
        if proc.returncode != 0:
            raise RuntimeError(f"aplay -D {self.device} failed ({proc.returncode}): {err.decode(errors='replace')}")
        return PlayReport(started, utcnow(), duration, dbfs, True)

    def available(self) -> tuple[bool, str]:
        if shutil.which("aplay") is None:
            return False, "aplay not installed (apt-get install alsa-utils)"
        return True, f"aplay device {self.device}"


def make_sink(kind: str, *, file_dir: Path, alsa_device: str) -> AudioSink:
    if kind == "file":
        return FileSink(file_dir)
    if kind == "alsa":
        return AlsaSink(alsa_device)
    if kind == "null":
        return NullSink()
    raise ValueError(f"unknown audio sink {kind!r}")
