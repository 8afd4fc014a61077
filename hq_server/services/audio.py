"""Audio by content hash: HQ renders a bulletin's speech once and nodes fetch ``/audio/{sha256}``.

Rendering uses the same TTS chain and normaliser as the edge (loaxa_speech), not a copy, so a node
that cannot fetch HQ's file and renders locally says the same words. Files are written to a temp
file, fsynced and renamed: a power cut never leaves a truncated file that would later be served.

HQ wants the best voice it can reach: its chain is tried in order (``cache_first`` off), each engine
under a hard deadline, an unreachable one skipped for a cool-down, and every rendering comes back with
its :class:`SpeechSummary` (engine, voice, quality class, why a fallback was used) for the bulletin's
record. Sentences are cached by engine, voice and text in ``data_dir/tts-cache``, so a preview followed
by sending the same text costs one synthesis (one paid request to a cloud voice).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hq_server.services import media
from hq_server.uploads import Upload
from loaxa_common.files import atomic_write_bytes
from loaxa_speech.audio import AudioError as SpeechAudioError
from loaxa_speech.audio import RenderOptions, check_audio, decode, prepare_recording, to_wav
from loaxa_speech.audio import render as render_audio
from loaxa_speech.tts.cache import TtsCache
from loaxa_speech.tts.engines.base import TtsEngine, TtsError, wav_duration_s
from loaxa_speech.tts.registry import build_engine
from loaxa_speech.tts.service import SpeechService
from loaxa_speech.tts.summary import SpeechSummary, summarise
from loaxa_speech.tts.voices import parse_voice, wish_is_known

logger = logging.getLogger(__name__)

SHA_RE = re.compile(r"^[0-9a-f]{64}$")
CONTENT_TYPES = {"wav": "audio/wav", "mp3": "audio/mpeg", "ogg": "audio/ogg", "opus": "audio/ogg"}
CONVERTED = frozenset({"webm"})  # browser recordings (MediaRecorder: WebM/Opus), stored as WAV for the nodes


class AudioError(RuntimeError):
    """Rendering or storing audio failed; the message is shown to the operator."""


class SpeechInputError(AudioError):
    """The operator's input cannot be spoken (unknown voice, text that renders to silence): a 400 on ``field``."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


_SILENCE_MARKERS = ("silence-length", "implausibly short", "nothing to say")
SILENT_DBFS = -55.0
"""Speech parts quieter than this are silence (espeak renders "..." as 0.4 s of it)."""


@dataclass(frozen=True)
class StoredAudio:
    sha256: str
    fmt: str
    size: int
    duration_s: float | None
    engines: tuple[str, ...] = ()  # TTS engines that spoke it, in order of the parts (rendered text only)


@dataclass(frozen=True)
class Rendering:
    """A rendered text: the stored file, how it sounds, and the words as they are read."""

    audio: StoredAudio
    speech: SpeechSummary
    spoken_text: str


def build_engines(names: list[str], options: dict[str, dict[str, Any]] | None = None) -> list[TtsEngine]:
    """The configured chain; an engine that cannot be built is left out with a warning (HQ still starts).

    espeak-ng is appended when the chain would otherwise be empty: a bulletin is never refused for lack
    of a voice, it is rendered robotic and flagged.
    """
    engines: list[TtsEngine] = []
    for name in names:
        try:
            engines.append(build_engine(name, (options or {}).get(name)))
        except (ImportError, ValueError, TypeError) as err:
            logger.warning("TTS engine %s not available at HQ: %s", name, err)
    if not engines:
        engines.append(build_engine("espeak"))
    return engines


def build_speech(names: list[str], options: dict[str, dict[str, Any]] | None = None, *,
                 cache_dir: Path | None = None, cooldown_s: float = 60.0) -> SpeechService:
    """HQ's speech: the nodes' chain (engine registry, normaliser, audio validation), best voice first."""
    cache = TtsCache(cache_dir) if cache_dir is not None else None
    return SpeechService(build_engines(names, options), cache=cache, validate=check_audio, cache_first=False,
                         cooldown_s=cooldown_s)


class AudioStore:
    def __init__(self, directory: Path, speech: SpeechService, voice: str, rate_wpm: int | None) -> None:
        self.dir = directory
        self.dir.mkdir(parents=True, exist_ok=True)
        self.speech = speech
        self.voice = voice
        self.rate_wpm = rate_wpm

    def find(self, sha256: str) -> Path | None:
        if not SHA_RE.match(sha256):
            return None
        return next(iter(self.dir.glob(f"{sha256}.*")), None)

    def _write(self, data: bytes, fmt: str, engines: tuple[str, ...] = ()) -> StoredAudio:
        sha = hashlib.sha256(data).hexdigest()
        final = self.dir / f"{sha}.{fmt}"
        if not final.exists():
            atomic_write_bytes(final, data)
        duration = None
        if fmt == "wav":
            try:
                duration = round(wav_duration_s(data), 3)
            except TtsError:
                duration = None
        return StoredAudio(sha, fmt, len(data), duration, engines)

    def _adopt(self, upload: Upload, fmt: str) -> StoredAudio:
        """Decode-check a received file and keep it under its hash (blocking); a browser recording
        (WebM) is checked the same way, then stored as WAV, which every node decodes."""
        try:
            facts = media.check_audio(upload.path, fmt)
        except media.MediaError as err:
            raise AudioError(str(err)) from err
        if fmt in CONVERTED:
            return self._write(self._to_wav(upload.path.read_bytes(), fmt), "wav")
        final = self.dir / f"{upload.sha256}.{fmt}"
        if not final.exists():
            upload.keep(final)
        return StoredAudio(upload.sha256, fmt, upload.size, facts.duration_s)

    async def store_upload(self, upload: Upload, fmt: str) -> StoredAudio:
        """Keep an uploaded file that is whole and honest (see :mod:`hq_server.services.media`)."""
        if fmt not in CONTENT_TYPES and fmt not in CONVERTED:
            raise AudioError(f"unsupported audio format {fmt!r}; use one of {', '.join(CONTENT_TYPES)}")
        return await asyncio.to_thread(self._adopt, upload, fmt)

    def _broadcast_recording(self, sha256: str) -> StoredAudio:
        path = self.find(sha256)
        if path is None:
            raise AudioError("Không tìm thấy tệp âm thanh (unknown audio)")
        try:
            wav = prepare_recording(path.read_bytes(), path.suffix.lstrip(".") or None)
        except SpeechAudioError as err:
            raise AudioError(f"Bản ghi âm không dùng được (recording unusable): {err}") from err
        return self._write(wav, "wav")

    async def broadcast_recording(self, sha256: str) -> StoredAudio:
        """The version of an uploaded recording that goes out: silence trimmed, loudness normalised like TTS.

        The upload itself stays stored whole under its own hash; this rendition gets its own hash.
        """
        return await asyncio.to_thread(self._broadcast_recording, sha256)

    def check_input(self, text: str, voice: str | None) -> None:
        """Client mistakes found before rendering: a voice no engine understands, text with nothing to speak."""
        if voice is not None and not wish_is_known(parse_voice(voice), self.speech.engines):
            raise SpeechInputError("voice", f"Giọng đọc '{voice}' không có; chọn nữ/nam và miền, ví dụ female-north, "
                                            f"male-south, hoặc engine:giọng như fpt:banmai (unknown voice)")
        if not any(ch.isalnum() for ch in self.speech.normalise(text)):
            raise SpeechInputError("text", "Nội dung không có chữ hay số nào để đọc (text has nothing to speak)")

    @staticmethod
    def _to_wav(data: bytes, fmt: str) -> bytes:
        try:
            return to_wav(decode(data, fmt))
        except SpeechAudioError as err:
            raise AudioError(f"cannot decode the {fmt} recording: {err}") from err

    def _render(self, text: str, voice: str | None, rate: int | None) -> Rendering:
        """Text → one loudness-normalised WAV, exactly as a node's own chain would speak it."""
        self.check_input(text, voice)
        try:
            parts = self.speech.speak(text, voice=voice or self.voice, rate_wpm=rate or self.rate_wpm)
            decoded = [decode(p.audio, p.fmt) for p in parts]
        except (TtsError, SpeechAudioError) as err:
            if any(marker in str(err) for marker in _SILENCE_MARKERS):
                raise SpeechInputError("text", f"Nội dung đọc ra chỉ là im lặng (text renders to silence): {err}"
                                       ) from err
            raise AudioError(f"text-to-speech failed: {err}") from err
        if all(seg.rms == 0 or seg.dBFS < SILENT_DBFS for seg in decoded):
            raise SpeechInputError("text", "Nội dung đọc ra chỉ là im lặng (text renders to silence)")
        wav = to_wav(render_audio(decoded, RenderOptions()))
        speech = summarise(parts)
        if speech.note:
            logger.warning("rendered with %s (%s): %s", speech.engine, speech.quality, speech.note)
        stored = self._write(wav, "wav", tuple(dict.fromkeys(p.engine for p in parts)))
        return Rendering(stored, speech, self.speech.normalise(text))

    async def render(self, text: str, voice: str | None = None, rate: int | None = None) -> Rendering:
        """Render once per text and voice (sentences are cached); blocking synthesis runs in a worker thread."""
        return await asyncio.to_thread(self._render, text, voice, rate)
