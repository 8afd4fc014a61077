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
import io
import logging
import re
import shutil
import subprocess
import tempfile
import wave
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


class SinkError(RuntimeError):
    """The audio output failed (no sound card, device busy, aplay missing)."""


class AudioSink(Protocol):
    name: str

    async def play(self, wav: bytes, *, label: str) -> PlayReport: ...

    def available(self) -> tuple[bool, str]:
        """Cheap and silent (health reports): can this output plausibly play?"""
        ...

    def probe(self) -> tuple[bool, str]:
        """The technician's check: open the output for real (blocking; may take a second)."""
        ...


def _safe_label(label: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", label)[:80] or "audio"


class NullSink:
    name = "null"

    async def play(self, wav: bytes, *, label: str) -> PlayReport:
        now = utcnow()
        # the start is stamped; measuring the audio waits one turn of the loop, so that in a simulated
        # fleet (a thousand nodes on one loop) other plays due at this instant start before it
        await asyncio.sleep(0)
        duration, dbfs = wav_stats(wav)
        return PlayReport(now, now, duration, dbfs, True)

    def available(self) -> tuple[bool, str]:
        return True, "null sink discards audio"

    def probe(self) -> tuple[bool, str]:
        return self.available()


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

    def probe(self) -> tuple[bool, str]:
        return self.available()


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
            raise SinkError(f"aplay -D {self.device} failed ({proc.returncode}): {_aplay_error(err)}")
        return PlayReport(started, utcnow(), duration, dbfs, True)

    def available(self) -> tuple[bool, str]:
        if shutil.which("aplay") is None:
            return False, "aplay not installed (apt-get install alsa-utils)"
        if self.device != "null" and not _sound_cards():
            return False, f"no sound card (/proc/asound/cards lists none) for aplay device {self.device}"
        return True, f"aplay device {self.device}"

    def probe(self) -> tuple[bool, str]:
        """Play 0.1 s of silence through the device: what a bulletin would hit, minus the sound."""
        ok, detail = self.available()
        if shutil.which("aplay") is None:
            return ok, detail
        try:
            out = subprocess.run(["aplay", "-q", "-D", self.device, "-"], input=_silence(), capture_output=True,
                                 timeout=10, check=False)
        except subprocess.TimeoutExpired:
            return False, f"aplay -D {self.device} did not finish 0.1 s of silence within 10 s (device busy?)"
        if out.returncode != 0:
            return False, f"aplay -D {self.device} failed ({out.returncode}): {_aplay_error(out.stderr)}"
        return True, f"aplay device {self.device} opened and played 0.1 s of silence"


def _sound_cards(path: Path = Path("/proc/asound/cards")) -> bool:
    try:
        text = path.read_text()
    except OSError:
        return False
    return bool(text.strip()) and "no soundcards" not in text


def _silence(seconds: float = 0.1, rate: int = 22050) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(b"\0\0" * int(seconds * rate))
    return buf.getvalue()


def _aplay_error(stderr: bytes) -> str:
    """aplay's last line says what went wrong (ALSA prints several lines of configuration noise first)."""
    lines = [line.strip() for line in stderr.decode(errors="replace").splitlines() if line.strip()]
    return lines[-1][:300] if lines else "no message"


def make_sink(kind: str, *, file_dir: Path, alsa_device: str) -> AudioSink:
    if kind == "file":
        return FileSink(file_dir)
    if kind == "alsa":
        return AlsaSink(alsa_device)
    if kind == "null":
        return NullSink()
    raise ValueError(f"unknown audio sink {kind!r}")
