"""Relay a live stream (HTTP/Icecast MP3/AAC/Opus, through ffmpeg) for a window: the daily "tiếp âm".

ffmpeg decodes the stream to 16-bit mono PCM on its stdout at the stream's own pace (``-re``); we
count the PCM bytes (the seconds actually relayed), measure their RMS level for the proof of play,
and feed them to the output. If the stream drops inside the window, ffmpeg is restarted after a short
backoff; at the window's end ffmpeg is stopped, whatever it is doing. Cancelling the task (cancel,
emergency preemption) stops it the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import re
import wave
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol

from edge_agent.playback.loudness import audioop
from edge_agent.playback.sinks import AlsaSink, AudioSink, FileSink
from loaxa_contract.models import utcnow

logger = logging.getLogger(__name__)

RATE = 22050


@dataclass
class RelayReport:
    started_at: datetime
    ended_at: datetime
    seconds: float
    reconnects: int
    loudness_dbfs: float


class PcmOut(Protocol):
    async def write(self, pcm: bytes) -> None: ...

    async def close(self) -> None: ...


class _NullOut:
    async def write(self, pcm: bytes) -> None:
        pass

    async def close(self) -> None:
        pass


class _FileOut:
    def __init__(self, sink: FileSink, label: str) -> None:
        sink.directory.mkdir(parents=True, exist_ok=True)
        name = f"{utcnow().strftime('%Y%m%dT%H%M%S.%fZ')}_{re.sub(r'[^A-Za-z0-9_.-]+', '_', label)[:80]}.relay.wav"
        self.path = sink.directory / name
        self.sink = sink
        self.w = wave.open(str(self.path), "wb")  # noqa: SIM115 - closed in close()
        self.w.setnchannels(1)
        self.w.setsampwidth(2)
        self.w.setframerate(RATE)
        sink._log(f"{utcnow().isoformat()} relay-start {name}")

    async def write(self, pcm: bytes) -> None:
        self.w.writeframes(pcm)

    async def close(self) -> None:
        self.w.close()
        self.sink._log(f"{utcnow().isoformat()} relay-end {self.path.name}")


class _AlsaOut:
    def __init__(self, device: str) -> None:
        self.device = device
        self.proc: asyncio.subprocess.Process | None = None

    async def write(self, pcm: bytes) -> None:
        if self.proc is None:
            self.proc = await asyncio.create_subprocess_exec(
                "aplay", "-q", "-D", self.device, "-t", "raw", "-f", "S16_LE", "-r", str(RATE), "-c", "1",
                stdin=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
        assert self.proc.stdin is not None
        self.proc.stdin.write(pcm)
        await self.proc.stdin.drain()

    async def close(self) -> None:
        if self.proc is not None:
            with contextlib.suppress(Exception):
                self.proc.kill()
            await self.proc.wait()


def open_output(sink: AudioSink, label: str) -> PcmOut:
    if isinstance(sink, FileSink):
        return _FileOut(sink, label)
    if isinstance(sink, AlsaSink):
        return _AlsaOut(sink.device)
    return _NullOut()


class StreamRelay:
    def __init__(self, sink: AudioSink, *, ffmpeg: str = "ffmpeg", reconnect_backoff_s: float = 1.0,
                 gain_db: float = 0.0) -> None:
        self.sink = sink
        self.ffmpeg = ffmpeg
        self.backoff = reconnect_backoff_s
        self.gain_db = gain_db

    def _argv(self, url: str) -> list[str]:
        return [self.ffmpeg, "-nostdin", "-v", "error", "-re", "-rw_timeout", "5000000", "-i", url,
                "-vn", "-ac", "1", "-ar", str(RATE), "-af", f"volume={self.gain_db}dB", "-f", "s16le", "pipe:1"]

    async def run(self, url: str, end_at: datetime, label: str) -> RelayReport:
        out = open_output(self.sink, label)
        started = utcnow()
        state = {"bytes": 0, "sumsq": 0.0, "n": 0, "reconnects": -1}
        try:
            remaining = (end_at - utcnow()).total_seconds()
            if remaining > 0:
                with contextlib.suppress(TimeoutError):  # asyncio.timeout: never drops a cancel (3.11 wait_for can)
                    async with asyncio.timeout(remaining):
                        await self._loop(url, end_at, out, state)
        finally:
            await out.close()
        seconds = state["bytes"] / (2 * RATE)
        rms = math.sqrt(state["sumsq"] / state["n"]) if state["n"] else 0.0
        dbfs = 20 * math.log10(rms) if rms > 1e-6 else -120.0
        return RelayReport(started, utcnow(), seconds, max(0, state["reconnects"]), dbfs)

    async def _loop(self, url: str, end_at: datetime, out: PcmOut, state: dict) -> None:
        while utcnow() < end_at:
            state["reconnects"] += 1
            proc = await asyncio.create_subprocess_exec(*self._argv(url), stdout=asyncio.subprocess.PIPE,
                                                        stderr=asyncio.subprocess.PIPE)
            try:
                assert proc.stdout is not None
                while True:
                    pcm = await proc.stdout.read(4096)
                    if not pcm:
                        break
                    pcm = pcm[: len(pcm) - (len(pcm) % 2)]
                    n = len(pcm) // 2
                    if n:
                        state["sumsq"] += (audioop.rms(pcm, 2) / 32768.0) ** 2 * n
                    state["n"] += n
                    state["bytes"] += len(pcm)
                    await out.write(pcm)
            finally:
                if proc.returncode is None:
                    with contextlib.suppress(ProcessLookupError):
                        proc.kill()
                await proc.wait()
            err = (await proc.stderr.read()).decode(errors="replace").strip() if proc.stderr else ""
            logger.warning("relay %s dropped (ffmpeg %s%s); reconnecting", url, proc.returncode,
                           f": {err[-200:]}" if err else "")
            await asyncio.sleep(self.backoff)

    @staticmethod
    def output_path_hint(sink: AudioSink) -> Path | None:
        return sink.directory if isinstance(sink, FileSink) else None
