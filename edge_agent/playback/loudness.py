"""Measure what went to the output: duration and RMS loudness (dBFS), for the proof-of-play ack.

Uses ``audioop`` (standard library to 3.12, ``audioop-lts`` from 3.13 — pydub needs it anyway)
rather than numpy: numpy alone costs ~14 MB of RSS on an idle node.
"""

from __future__ import annotations

import io
import math
import wave

try:
    import audioop
except ImportError:  # pragma: no cover - Python 3.13+ without audioop-lts
    audioop = None  # type: ignore[assignment]

_FULL_SCALE = {1: 128.0, 2: 32768.0, 4: 2147483648.0}


def pcm_rms_dbfs(frames: bytes, width: int) -> float:
    """RMS level of signed little-endian PCM (8-bit WAV is unsigned: converted) in dBFS; silence → -120."""
    if width not in _FULL_SCALE:
        raise ValueError(f"unsupported sample width {width}")
    if not frames:
        return -120.0
    if width == 1:
        frames = audioop.bias(frames, 1, -128)
    rms = audioop.rms(frames, width) / _FULL_SCALE[width]
    return 20 * math.log10(rms) if rms > 1e-6 else -120.0


def wav_stats(data: bytes) -> tuple[float, float]:
    """Return (duration in seconds, RMS level in dBFS) of a PCM WAV byte string.

    Silence reads as -inf dBFS, reported as -120.0 so it stays JSON-serialisable.
    """
    with wave.open(io.BytesIO(data)) as w:
        frames = w.readframes(w.getnframes())
        rate, width, channels = w.getframerate(), w.getsampwidth(), w.getnchannels()
    duration = len(frames) / float(rate * width * channels) if rate else 0.0
    return duration, pcm_rms_dbfs(frames, width)
