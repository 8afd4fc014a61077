"""Text → audio parts for a bulletin: normalise, split, cache lookup, engine chain, validation.

* The text goes through the Vietnamese normaliser first (numbers, dates, abbreviations), so the cache
  key and every engine see what will actually be said.
* Long texts are split at sentence boundaries into chunks of at most ``max_chunk_chars``; each chunk is
  cached on its own (a repeated sentence is synthesised once) and the audio layer joins them.
* For each chunk the cache is checked for every engine of the chain, in order of preference, before
  anything is synthesised: a hit costs no synthesis and no network.
* Engine output is validated (``validate`` decodes it and checks a plausible length) before it is
  cached or returned; an engine that returns garbage counts as a failure and the next one is tried.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from loaxa_speech.tts.cache import TtsCache, cache_key
from loaxa_speech.tts.engines.base import SpeechRequest, TtsEngine, TtsError

logger = logging.getLogger(__name__)

Validate = Callable[[bytes, str], float]
"""(audio, fmt) → duration in seconds; raises (any ``Exception``) if the audio is not playable."""


@dataclass(frozen=True)
class SpokenPart:
    audio: bytes
    fmt: str
    engine: str
    cached: bool


def load_normaliser() -> Callable[[str], str]:
    """The normaliser owned by ``loaxa_speech.normalise``; identity (with a warning) if it is missing."""
    try:
        from loaxa_speech.normalise import normalise
    except ImportError as err:
        logger.warning("Vietnamese normaliser unavailable (%s); text is spoken as written", err)
        return lambda text: text
    return normalise


_SENTENCE_END = re.compile(r"(?<=[.!?;:…])\s+|\n+")


def split_text(text: str, max_chars: int = 300) -> list[str]:
    """Sentence chunks of at most ``max_chars`` (a longer sentence is cut at commas, then spaces)."""
    pieces: list[str] = []
    for sentence in (s.strip() for s in _SENTENCE_END.split(text)):
        if len(sentence) > max_chars:
            pieces.extend(_pack(_WORD_BREAK.split(sentence), max_chars))
        elif sentence:
            pieces.append(sentence)
    return _pack(pieces, max_chars)


_WORD_BREAK = re.compile(r"(?<=,)\s+|\s+")


def _pack(pieces: Iterable[str], max_chars: int) -> list[str]:
    """Greedily join pieces with spaces into strings of at most ``max_chars`` (a longer piece stays whole)."""
    out: list[str] = []
    current = ""
    for piece in pieces:
        if current and len(current) + 1 + len(piece) > max_chars:
            out.append(current)
            current = piece
        else:
            current = f"{current} {piece}".strip()
    if current:
        out.append(current)
    return out


def engine_voice(engine: TtsEngine, voice: str | None) -> str:
    if engine.name == "gtts":
        return "vi"  # gTTS has one Vietnamese voice; a voice name for espeak must not split its cache
    return voice or engine.default_voice


class SpeechService:
    def __init__(self, engines: Sequence[TtsEngine], *, cache: TtsCache | None = None,
                 validate: Validate | None = None, normaliser: Callable[[str], str] | None = None,
                 max_chunk_chars: int = 300) -> None:
        if not engines:
            raise ValueError("a TTS chain needs at least one engine")
        self.engines = list(engines)
        self.cache = cache
        self.validate = validate
        self.normalise = normaliser or load_normaliser()
        self.max_chunk_chars = max_chunk_chars
        self.synthesised = 0

    def speak(self, text: str, *, voice: str | None = None, rate_wpm: int = 150) -> list[SpokenPart]:
        """Audio parts for ``text``, in order; :class:`TtsError` if some chunk cannot be spoken at all."""
        spoken = self.normalise(text)
        chunks = split_text(spoken, self.max_chunk_chars)
        if not chunks:
            raise TtsError("nothing to say: text is empty after normalisation")
        return [self._chunk(c, voice, rate_wpm) for c in chunks]

    def _key(self, engine: TtsEngine, chunk: str, voice: str | None, rate_wpm: int) -> str:
        return cache_key(chunk, engine.name, engine_voice(engine, voice), rate_wpm)

    def _chunk(self, chunk: str, voice: str | None, rate_wpm: int) -> SpokenPart:
        if self.cache is not None:
            for engine in self.engines:
                hit = self.cache.get(self._key(engine, chunk, voice, rate_wpm))
                if hit is not None:
                    return SpokenPart(hit[0], hit[1], engine.name, True)
        errors = []
        for engine in self.engines:
            try:
                result = engine.synthesize(SpeechRequest(chunk, voice=engine_voice(engine, voice), rate_wpm=rate_wpm))
                if self.validate is not None:
                    self.validate(result.audio, result.fmt)
            except TtsError as err:
                errors.append(f"{engine.name}: {err}")
                logger.warning("TTS engine %s failed: %s; trying the next", engine.name, err)
                continue
            except Exception as err:  # validation: undecodable or implausible audio
                errors.append(f"{engine.name}: unplayable audio: {err}")
                logger.warning("TTS engine %s returned unplayable audio: %s", engine.name, err)
                continue
            self.synthesised += 1
            if self.cache is not None:
                self.cache.put(self._key(engine, chunk, voice, rate_wpm), result.audio, result.fmt)
            return SpokenPart(result.audio, result.fmt, engine.name, False)
        raise TtsError("all TTS engines failed — " + "; ".join(errors))
