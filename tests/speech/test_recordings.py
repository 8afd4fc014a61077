"""Human recordings are processed like TTS output: silence trimmed at both ends, loudness normalised."""

from __future__ import annotations

import io

import pytest
from pydub import AudioSegment
from pydub.generators import Sine, WhiteNoise

from loaxa_speech.audio import AudioError, decode, prepare_recording, trim_silence

VOICE_S = 2.0


def syllables(rate: int) -> AudioSegment:
    """2 s of voice-like sound: 8 syllables of 200 ms with 50 ms dips, starting and ending voiced."""
    out = AudioSegment.empty()
    for n in range(8):
        tone = Sine(180 + 20 * n, sample_rate=rate).to_audio_segment(200, volume=-6).fade_in(10).fade_out(10)
        out += tone + (AudioSegment.silent(50, rate) if n < 7 else AudioSegment.empty())
    return out + Sine(200, sample_rate=rate).to_audio_segment(int(VOICE_S * 1000) - len(out), volume=-6)


def recording(lead_s: float, voice_gain_db: float, tail_s: float, hiss_dbfs: float | None = None,
              rate: int = 44100) -> bytes:
    """A phone-style recording: silence (or hiss), a voice at some level, silence again; stereo 44.1 kHz."""
    voice = syllables(rate).set_channels(2).apply_gain(voice_gain_db)
    lead, tail = AudioSegment.silent(int(lead_s * 1000), rate), AudioSegment.silent(int(tail_s * 1000), rate)
    seg = lead.set_channels(2) + voice + tail.set_channels(2)
    if hiss_dbfs is not None:
        seg = seg.overlay(WhiteNoise(sample_rate=rate).to_audio_segment(len(seg), volume=hiss_dbfs).set_channels(2))
    buf = io.BytesIO()
    seg.export(buf, format="wav")
    return buf.getvalue()


@pytest.mark.parametrize("hiss", [None, -55.0])
def test_leading_and_trailing_silence_are_trimmed_and_the_level_matches_tts(hiss):
    raw = recording(3.0, -20.0, 4.0, hiss)
    before = decode(raw, "wav")
    out = decode(prepare_recording(raw, "wav"), "wav")
    assert VOICE_S < out.duration_seconds < VOICE_S + 0.35, out.duration_seconds  # + 150 ms kept at each end
    assert out.frame_rate == 22050 and out.channels == 1 and out.sample_width == 2
    assert out.dBFS == pytest.approx(-16.0, abs=0.5) and out.max_dBFS <= -0.9
    assert before.dBFS < -30


def test_a_recording_that_starts_at_once_keeps_its_first_word():
    raw = recording(0.0, 0.0, 0.0)
    out = decode(prepare_recording(raw, "wav"), "wav")
    assert out.duration_seconds == pytest.approx(VOICE_S, abs=0.02)


def test_silence_only_is_refused():
    with pytest.raises(AudioError, match="silent"):
        trim_silence(AudioSegment.silent(3000, 22050))
    tone_then_nothing = Sine(440).to_audio_segment(50) + AudioSegment.silent(3000)
    with pytest.raises(AudioError, match="silent"):
        trim_silence(tone_then_nothing)
