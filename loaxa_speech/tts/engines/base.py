"""The engine interface: a template method in the manner of Home Assistant's TTS entity.

Engines implement ``_synthesize`` only. :meth:`TtsEngine.synthesize` is the final wrapper that
refuses empty output, so a failed engine can never hand an empty or truncated file to the cache or
to the loudspeaker (Home Assistant's cache was poisoned exactly so).

Every engine declares its ``quality`` class — ``neural`` (a natural voice) or ``robotic`` (espeak-ng,
understood by few listeners) — and its ``voices`` from :mod:`loaxa_speech.tts.voices`, so a voice wish
("female-south", "fpt:banmai") means the same thing to all of them.
"""

from __future__ import annotations

import io
import wave
from abc import ABC, abstractmethod
from dataclasses import dataclass
from enum import StrEnum
from typing import ClassVar

from loaxa_speech.tts.voices import Voice, VoiceWish, parse_voice, pick


class Quality(StrEnum):
    """How a rendering will sound to villagers; the web UI warns before a ``robotic`` one goes out."""

    NEURAL = "neural"
    ROBOTIC = "robotic"
    HUMAN = "human"


class TtsError(RuntimeError):
    """An engine could not produce speech; the chain tries the next engine.

    The message is shown to broadcasters (why the fallback voice was used): plain words, and never a
    credential.
    """


class EngineUnavailable(TtsError):
    """The engine cannot be used right now (no network, timeout, key refused, quota, provider down).

    The chain skips such an engine for a cool-down instead of making every sentence of every bulletin
    wait for the same failure again.
    """


@dataclass(frozen=True)
class SpeechRequest:
    text: str
    voice: str | None = None
    rate_wpm: int | None = None  # None: the voice's natural pace (espeak-ng: 140 wpm)
    lang: str = "vi"


@dataclass(frozen=True)
class SpeechResult:
    audio: bytes
    fmt: str  # "wav" or "mp3"
    engine: str
    voice: str


MIN_AUDIO_BYTES = 256


def wav_duration_s(data: bytes) -> float:
    """Duration of a RIFF/WAV byte string; ``TtsError`` if it is not a readable WAV."""
    try:
        with wave.open(io.BytesIO(data), "rb") as w:
            frames: int = w.getnframes()
            rate: int = w.getframerate()
        return frames / float(rate)
    except (wave.Error, EOFError) as err:
        raise TtsError(f"not a valid WAV: {err}") from err


def repair_streamed_wav(data: bytes) -> bytes:
    """Rewrite the RIFF sizes of a WAV written to a pipe (espeak-ng ``--stdout`` writes 0x7FFFFFFF).

    Readers that trust the header would otherwise think the audio lasts half a day.
    """
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise TtsError("not a RIFF/WAVE stream")
    pos, fmt_end, data_start = 12, None, None
    while pos + 8 <= len(data):
        chunk, size = data[pos : pos + 4], int.from_bytes(data[pos + 4 : pos + 8], "little")
        if chunk == b"data":
            data_start = pos + 8
            break
        pos += 8 + size + (size & 1)
        fmt_end = pos
    if data_start is None or fmt_end is None:
        raise TtsError("WAV stream has no data chunk")
    pcm = data[data_start:]
    header = bytearray(data[: data_start])
    header[4:8] = (len(header) - 8 + len(pcm)).to_bytes(4, "little")
    header[data_start - 4 : data_start] = len(pcm).to_bytes(4, "little")
    return bytes(header) + pcm


class TtsEngine(ABC):
    name: str = "base"
    default_voice: str = ""
    quality: ClassVar[Quality] = Quality.NEURAL
    voices: ClassVar[tuple[Voice, ...]] = ()
    timeout_s: float = 30.0

    def resolve_voice(self, wanted: str | VoiceWish | None) -> str:
        """The concrete voice id this engine uses for a wish (also the voice recorded and cache-keyed)."""
        wish = wanted if isinstance(wanted, VoiceWish) else parse_voice(wanted)
        return pick(self.voices, wish, self.default_voice, self.name)

    def synthesize(self, request: SpeechRequest) -> SpeechResult:
        if not request.text.strip():
            raise TtsError("nothing to say: text is empty")
        result = self._synthesize(request)
        if len(result.audio) < MIN_AUDIO_BYTES:
            raise TtsError(f"{self.name} returned {len(result.audio)} bytes of audio")
        if result.fmt == "wav" and wav_duration_s(result.audio) <= 0.05:
            raise TtsError(f"{self.name} returned silence-length audio")
        return result

    @abstractmethod
    def _synthesize(self, request: SpeechRequest) -> SpeechResult: ...

    def available(self) -> bool:
        """Cheap check for ``edge-agent doctor`` and the chain: can this engine run here at all?"""
        return True

    def unavailable_reason(self) -> str | None:
        """Why :meth:`available` is false, in words a technician can act on (None when available)."""
        return None if self.available() else f"{self.name} is not usable here"
