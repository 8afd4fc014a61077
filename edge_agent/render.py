"""Bulletin → WAV for the sink: speech (normaliser, cache, engine chain) or HQ audio, then processing."""

from __future__ import annotations

import math
from dataclasses import replace

from edge_agent.fetch import AudioFetcher
from edge_agent.playback.processing import RenderOptions, check_audio, decode, render, to_wav
from loaxa_contract.models import BulletinCommand
from loaxa_speech.tts.service import SpeechService


def volume_gain_db(volume: int) -> float:
    """0–100 % → dB (100 → 0 dB, 50 → −6 dB, 0 → silence)."""
    return -120.0 if volume <= 0 else 20 * math.log10(volume / 100)


class Renderer:
    def __init__(self, speech: SpeechService, fetcher: AudioFetcher, options: RenderOptions, *,
                 voice: str, rate_wpm: int) -> None:
        self.speech = speech
        self.fetcher = fetcher
        self.options = options
        self.voice = voice
        self.rate_wpm = rate_wpm

    def _sources(self, cmd: BulletinCommand) -> tuple[list, str]:
        if cmd.kind == "audio":
            assert cmd.audio is not None
            data = self.fetcher.get(cmd.audio.sha256, cmd.audio.url)
            return [decode(data)], "hq-audio"
        parts = self.speech.speak(cmd.text, voice=cmd.voice or self.voice, rate_wpm=cmd.rate or self.rate_wpm)
        engines = sorted({p.engine for p in parts})
        cached = sum(p.cached for p in parts)
        return [decode(p.audio, p.fmt) for p in parts], f"{'+'.join(engines)} ({len(parts)} part(s), {cached} cached)"

    def prepare(self, cmd: BulletinCommand) -> str:
        """Warm the caches (synthesise or download + verify); blocking. Returns a short description."""
        if cmd.kind == "audio":
            assert cmd.audio is not None
            check_audio(self.fetcher.get(cmd.audio.sha256, cmd.audio.url))
            return f"hq-audio {cmd.audio.sha256[:12]}"
        parts = self.speech.speak(cmd.text, voice=cmd.voice or self.voice, rate_wpm=cmd.rate or self.rate_wpm)
        cached = sum(p.cached for p in parts)  # no decoding here: the cache is warm, memory stays low
        return f"{'+'.join(sorted({p.engine for p in parts}))} ({len(parts)} part(s), {cached} cached)"

    def render(self, cmd: BulletinCommand, volume: int) -> bytes:
        """The WAV that goes to the output, as it will be heard; blocking."""
        segments, _ = self._sources(cmd)
        opts = replace(self.options, chime_before=cmd.chime and self.options.chime_before,
                       chime_after=cmd.chime and self.options.chime_after, repeat=cmd.repeat,
                       repeat_gap_s=cmd.repeat_gap_s,
                       target_dbfs=self.options.target_dbfs + volume_gain_db(cmd.volume if cmd.volume is not None
                                                                              else volume))
        return to_wav(render(segments, opts))
