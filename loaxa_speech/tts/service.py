"""Text → audio parts for a bulletin: normalise, split, cache lookup, engine chain, validation.

* The text goes through the Vietnamese normaliser first (numbers, dates, abbreviations), so the cache
  key and every engine see what will actually be said.
* Long texts are split at sentence boundaries into chunks of at most ``max_chunk_chars``; each chunk is
  cached on its own (a repeated sentence is synthesised once) and the audio layer joins them.
* The chain is tried in order of preference. A voice wish naming an engine (``"fpt:banmai"``) puts
  that engine first; the others keep its gender and accent.
* ``cache_first`` (a node on a metered 4G link): a cached rendering by *any* engine of the chain is used
  before anything is synthesised. Without it (HQ, which wants the best voice it can reach) an engine's
  cache is only consulted when that engine's turn comes, so an espeak-ng rendering cached while the
  Internet was down never wins over a neural voice that is back.
* Every engine call has a hard deadline (its ``timeout_s`` plus a grace), enforced here in a worker
  thread, because a DNS lookup or a library can block past any socket timeout. An engine that is
  unreachable (:class:`EngineUnavailable`) is skipped for ``cooldown_s``: with no Internet, a
  20-sentence bulletin waits for the network failure once, not 20 times.
* Engine output is validated (``validate`` decodes it and checks a plausible length) before it is
  cached or returned; an engine that returns garbage counts as a failure and the next one is tried.
* Each part says which engine and voice made it, its quality class, and why better engines were
  skipped (``skipped``), so HQ can record and show the fallback instead of hiding it.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from loaxa_speech.tts.cache import TtsCache, cache_key
from loaxa_speech.tts.engines.base import (
    EngineUnavailable,
    Quality,
    SpeechRequest,
    SpeechResult,
    TtsEngine,
    TtsError,
)
from loaxa_speech.tts.voices import VoiceWish, parse_voice

logger = logging.getLogger(__name__)

Validate = Callable[[bytes, str], float]
"""(audio, fmt) → duration in seconds; raises (any ``Exception``) if the audio is not playable."""


@dataclass(frozen=True)
class SpokenPart:
    audio: bytes
    fmt: str
    engine: str
    cached: bool
    voice: str = ""
    quality: Quality = Quality.NEURAL
    skipped: tuple[str, ...] = field(default=())  # "gtts: không có kết nối Internet (...)" per better engine


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


def engine_voice(engine: TtsEngine, voice: str | VoiceWish | None) -> str:
    """The concrete voice ``engine`` uses for a wish: part of the cache key and of the record."""
    return engine.resolve_voice(voice)


def call_with_deadline(fn: Callable[[], SpeechResult], deadline_s: float, name: str) -> SpeechResult:
    """Run ``fn`` in a daemon thread and give up after ``deadline_s``.

    The abandoned thread finishes on its own (every engine has its own socket/process timeouts); what
    matters is that the bulletin does not wait for it.
    """
    box: dict[str, object] = {}
    done = threading.Event()

    def run() -> None:
        try:
            box["result"] = fn()
        except BaseException as err:  # handed to the caller's thread below
            box["error"] = err
        finally:
            done.set()

    threading.Thread(target=run, name=f"tts:{name}", daemon=True).start()
    if not done.wait(deadline_s):
        raise EngineUnavailable(f"không trả lời trong {deadline_s:.0f} giây (no answer within {deadline_s:.0f}s)")
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box["result"]  # type: ignore[return-value]


@dataclass
class _Down:
    until: float
    reason: str


class SpeechService:
    def __init__(self, engines: Sequence[TtsEngine], *, cache: TtsCache | None = None,
                 validate: Validate | None = None, normaliser: Callable[[str], str] | None = None,
                 max_chunk_chars: int = 300, cache_first: bool = True, cooldown_s: float = 60.0,
                 deadline_grace_s: float = 2.0, clock: Callable[[], float] = time.monotonic) -> None:
        if not engines:
            raise ValueError("a TTS chain needs at least one engine")
        self.engines = list(engines)
        self.cache = cache
        self.validate = validate
        self.normalise = normaliser or load_normaliser()
        self.max_chunk_chars = max_chunk_chars
        self.cache_first = cache_first
        self.cooldown_s = cooldown_s
        self.deadline_grace_s = deadline_grace_s
        self.clock = clock
        self.synthesised = 0
        self._down: dict[str, _Down] = {}
        self._lock = threading.Lock()

    def speak(self, text: str, *, voice: str | None = None, rate_wpm: int | None = None) -> list[SpokenPart]:
        """Audio parts for ``text``, in order; :class:`TtsError` if some chunk cannot be spoken at all."""
        spoken = self.normalise(text)
        chunks = split_text(spoken, self.max_chunk_chars)
        if not chunks:
            raise TtsError("nothing to say: text is empty after normalisation")
        wish = parse_voice(voice)
        chain = self.chain_for(wish)
        return [self._chunk(c, chain, wish, rate_wpm) for c in chunks]

    def chain_for(self, wish: VoiceWish) -> list[TtsEngine]:
        """The chain in the order it will be tried for ``wish`` (a named engine goes first)."""
        if wish.engine is None:
            return list(self.engines)
        first = [e for e in self.engines if e.name == wish.engine]
        if not first:
            logger.warning("voice %s:%s asked for, but engine %s is not in the chain", wish.engine, wish.voice,
                           wish.engine)
        return first + [e for e in self.engines if e.name != wish.engine]

    def down_reason(self, engine: TtsEngine) -> str | None:
        """Why ``engine`` is being skipped right now (cool-down after it was unreachable), or None."""
        with self._lock:
            down = self._down.get(engine.name)
            if down is None or self.clock() >= down.until:
                return None
            return down.reason

    def _key(self, engine: TtsEngine, chunk: str, wish: VoiceWish, rate_wpm: int | None) -> str:
        return cache_key(chunk, engine.name, engine_voice(engine, wish), rate_wpm)  # type: ignore[arg-type]

    def _cached(self, engine: TtsEngine, chunk: str, wish: VoiceWish, rate_wpm: int | None,
                skipped: tuple[str, ...]) -> SpokenPart | None:
        if self.cache is None:
            return None
        hit = self.cache.get(self._key(engine, chunk, wish, rate_wpm))
        if hit is None:
            return None
        return SpokenPart(hit[0], hit[1], engine.name, True, engine_voice(engine, wish), engine.quality, skipped)

    def _chunk(self, chunk: str, chain: list[TtsEngine], wish: VoiceWish, rate_wpm: int | None) -> SpokenPart:
        if self.cache_first:
            for engine in chain:
                if (part := self._cached(engine, chunk, wish, rate_wpm, ())) is not None:
                    return part
        skipped: list[str] = []
        for engine in chain:
            if not self.cache_first and (part := self._cached(engine, chunk, wish, rate_wpm, tuple(skipped))):
                return part
            if (reason := self.down_reason(engine)) is not None:
                skipped.append(f"{engine.name}: {reason}")
                continue
            voice = engine_voice(engine, wish)
            try:
                result = self._synthesize(engine, SpeechRequest(chunk, voice=voice, rate_wpm=rate_wpm))
            except TtsError as err:
                skipped.append(f"{engine.name}: {err}")
                logger.warning("TTS engine %s failed: %s; trying the next", engine.name, err)
                continue
            self.synthesised += 1
            if self.cache is not None:
                self.cache.put(self._key(engine, chunk, wish, rate_wpm), result.audio, result.fmt)
            return SpokenPart(result.audio, result.fmt, engine.name, False, voice, engine.quality, tuple(skipped))
        raise TtsError("all TTS engines failed — " + "; ".join(skipped))

    def _synthesize(self, engine: TtsEngine, request: SpeechRequest) -> SpeechResult:
        """One engine call under a hard deadline; failures that mean 'unreachable' start a cool-down."""
        try:
            result = call_with_deadline(lambda: engine.synthesize(request),
                                        engine.timeout_s + self.deadline_grace_s, engine.name)
        except EngineUnavailable as err:
            with self._lock:
                self._down[engine.name] = _Down(self.clock() + self.cooldown_s, str(err))
            raise
        except TtsError:
            raise
        except Exception as err:  # an engine bug must not take the whole chain down
            logger.exception("TTS engine %s crashed", engine.name)
            raise TtsError(f"lỗi nội bộ của bộ đọc (engine error: {type(err).__name__})") from err
        if self.validate is not None:
            try:
                self.validate(result.audio, result.fmt)
            except Exception as err:  # undecodable or implausible audio
                raise TtsError(f"âm thanh không phát được (unplayable audio: {err})") from err
        return result
