"""Bulletin → WAV for the sink: speech (normaliser, cache, engine chain) or HQ audio, then processing."""

from __future__ import annotations

import logging
import math
from dataclasses import replace

from pydub import AudioSegment

from edge_agent.programme.fetch import AudioFetcher
from loaxa_contract.models import BulletinCommand
from loaxa_speech.audio import RenderOptions, decode, render, to_wav
from loaxa_speech.tts.service import SpeechService, SpokenPart

logger = logging.getLogger(__name__)


def volume_gain_db(volume: int) -> float:
    """0–100 % → dB (100 → 0 dB, 50 → −6 dB, 0 → silence)."""
    return -120.0 if volume <= 0 else 20 * math.log10(volume / 100)


class Renderer:
    def __init__(self, speech: SpeechService, fetcher: AudioFetcher, options: RenderOptions, *,
                 voice: str, rate_wpm: int | None) -> None:
        self.speech = speech
        self.fetcher = fetcher
        self.options = options
        self.voice = voice
        self.rate_wpm = rate_wpm

    def _hq_audio(self, cmd: BulletinCommand) -> AudioSegment | None:
        """HQ's rendering, decoded (decoding is the validity check), first choice for every bulletin
        that carries one (downloaded and hash-verified). A text bulletin falls back to local TTS when
        HQ cannot be reached; an audio bulletin has nothing to fall back to, so its error propagates."""
        if cmd.audio is None:
            return None
        try:
            return decode(self.fetcher.get(cmd.audio.sha256, cmd.audio.url))
        except Exception as err:
            if cmd.kind == "audio":
                raise
            logger.warning("bulletin %s: HQ audio unavailable (%s); synthesising locally", cmd.bulletin_id, err)
            return None

    def _speak(self, cmd: BulletinCommand) -> list[SpokenPart]:
        return self.speech.speak(cmd.text, voice=cmd.voice or self.voice, rate_wpm=cmd.rate or self.rate_wpm)

    @staticmethod
    def _describe(parts: list[SpokenPart]) -> str:
        cached = sum(p.cached for p in parts)
        quality = "robotic" if any(p.quality == "robotic" for p in parts) else parts[0].quality.value
        return f"{'+'.join(sorted({p.engine for p in parts}))} {quality} ({len(parts)} part(s), {cached} cached)"

    def _sources(self, cmd: BulletinCommand) -> tuple[list, str]:
        hq = self._hq_audio(cmd)
        if hq is not None:
            return [hq], "hq-audio"
        parts = self._speak(cmd)
        return [decode(p.audio, p.fmt) for p in parts], self._describe(parts)

    def prepare(self, cmd: BulletinCommand) -> str:
        """Warm the caches (download + verify, or synthesise); blocking. Returns a short description."""
        if self._hq_audio(cmd) is not None:
            assert cmd.audio is not None
            return f"hq-audio {cmd.audio.sha256[:12]}"
        return self._describe(self._speak(cmd))  # no decoding here: the cache is warm, memory stays low

    def render(self, cmd: BulletinCommand, volume: int) -> bytes:
        """The WAV that goes to the output, as it will be heard; blocking."""
        return self.render_described(cmd, volume)[0]

    def render_described(self, cmd: BulletinCommand, volume: int) -> tuple[bytes, str]:
        """The final WAV and where it came from (for the ``rendered`` ack), the source chosen once:
        rendered ahead at admission, a download that failed is not tried again at the start."""
        segments, description = self._sources(cmd)
        if description == "hq-audio":
            assert cmd.audio is not None
            description = f"hq-audio {cmd.audio.sha256[:12]}"
        opts = replace(self.options, chime_before=cmd.chime and self.options.chime_before,
                       chime_after=cmd.chime and self.options.chime_after, repeat=cmd.repeat,
                       repeat_gap_s=cmd.repeat_gap_s,
                       target_dbfs=self.options.target_dbfs + volume_gain_db(cmd.volume if cmd.volume is not None
                                                                              else volume))
        return to_wav(render(segments, opts)), description
