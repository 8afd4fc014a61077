"""Measure what went to the output: duration and RMS loudness (dBFS), for the proof-of-play ack."""

from __future__ import annotations

import io
import math
import wave

import numpy as np


def wav_stats(data: bytes) -> tuple[float, float]:
    """Return (duration in seconds, RMS level in dBFS) of a PCM WAV byte string.

    Silence reads as -inf dBFS, reported as -120.0 so it stays JSON-serialisable.
    """
    with wave.open(io.BytesIO(data)) as w:
        frames = w.readframes(w.getnframes())
        rate, width, channels = w.getframerate(), w.getsampwidth(), w.getnchannels()
    duration = len(frames) / float(rate * width * channels) if rate else 0.0
    if width == 1:
        samples = (np.frombuffer(frames, dtype=np.uint8).astype(np.float64) - 128.0) / 128.0
    elif width == 2:
        samples = np.frombuffer(frames, dtype="<i2").astype(np.float64) / 32768.0
    elif width == 4:
        samples = np.frombuffer(frames, dtype="<i4").astype(np.float64) / 2147483648.0
    else:
        raise ValueError(f"unsupported sample width {width}")
    if samples.size == 0:
        return duration, -120.0
    rms = float(np.sqrt(np.mean(samples * samples)))
    return duration, (20 * math.log10(rms) if rms > 1e-6 else -120.0)
