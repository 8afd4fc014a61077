"""TTS chain, cache and gTTS hardening — gTTS talks to a fake of Google's RPC on 127.0.0.1."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from loaxa_speech.audio import AudioError, check_audio
from loaxa_speech.tts.cache import TtsCache, cache_key
from loaxa_speech.tts.engines.base import SpeechRequest, SpeechResult, TtsEngine, TtsError
from loaxa_speech.tts.engines.espeak import EspeakEngine
from loaxa_speech.tts.engines.gtts import GttsEngine
from loaxa_speech.tts.service import SpeechService, split_text
from tests.edge.helpers import fake_https, gtts_response, self_signed, tone

ENDPOINT = "/_/TranslateWebserverUi/data/batchexecute"


class FakeEngine(TtsEngine):
    def __init__(self, name: str, audio: bytes, fmt: str = "mp3", fail: bool = False) -> None:
        self.name, self.audio, self.fmt, self.fail, self.calls = name, audio, fmt, fail, 0

    def _synthesize(self, request: SpeechRequest) -> SpeechResult:
        self.calls += 1
        if self.fail:
            raise TtsError("offline")
        return SpeechResult(self.audio, self.fmt, self.name, "vi")


@pytest.fixture(scope="module")
def mp3() -> bytes:
    return tone(1.0)


@pytest.fixture(scope="module")
def tls(tmp_path_factory) -> tuple[Path, Path]:
    return self_signed(tmp_path_factory.mktemp("tls"))


def test_gtts_refuses_a_self_signed_server(tls, mp3):
    with fake_https(gtts_response(mp3), tls) as srv:
        engine = GttsEngine(endpoint=f"https://127.0.0.1:{srv.server_port}{ENDPOINT}", timeout_s=5)
        with pytest.raises(TtsError, match=r"(?i)verif|certificate"):
            engine.synthesize(SpeechRequest("Xin chào"))


def test_gtts_works_through_real_gtts_code_when_the_ca_is_trusted(tls, mp3):
    with fake_https(gtts_response(mp3), tls) as srv:
        engine = GttsEngine(endpoint=f"https://127.0.0.1:{srv.server_port}{ENDPOINT}", ca_bundle=str(tls[0]))
        result = engine.synthesize(SpeechRequest("Xin chào bà con"))
        assert result.audio == mp3 and result.fmt == "mp3"
        assert b"Xin" in srv.requests[0] or b"f.req=" in srv.requests[0]


def test_gtts_stalled_peer_times_out(tls):
    with fake_https(b"", tls) as srv:
        srv.stall.set()
        engine = GttsEngine(endpoint=f"https://127.0.0.1:{srv.server_port}{ENDPOINT}", ca_bundle=str(tls[0]),
                            timeout_s=1.0)
        t0 = time.monotonic()
        with pytest.raises(TtsError):
            engine.synthesize(SpeechRequest("Xin chào"))
        assert time.monotonic() - t0 < 5


def test_garbage_is_never_cached_and_next_engine_is_used(tmp_path, mp3):
    cache = TtsCache(tmp_path / "cache")
    bad = FakeEngine("gtts", b"\x00" * 4000)  # not audio at all
    good = FakeEngine("espeak", mp3)
    service = SpeechService([bad, good], cache=cache, validate=check_audio, normaliser=lambda t: t)
    parts = service.speak("Một câu.", voice="vi")
    assert [p.engine for p in parts] == ["espeak"] and not parts[0].cached
    files = list((tmp_path / "cache").iterdir())
    assert len(files) == 1 and files[0].stat().st_size == len(mp3)


def test_cache_hit_synthesises_nothing(tmp_path, mp3):
    cache = TtsCache(tmp_path / "cache")
    engine = FakeEngine("gtts", mp3)
    service = SpeechService([engine], cache=cache, validate=check_audio, normaliser=str.upper)
    service.speak("xin chào. hẹn gặp lại.")
    calls = engine.calls
    again = SpeechService([engine], cache=TtsCache(tmp_path / "cache"), validate=check_audio, normaliser=str.upper)
    parts = again.speak("xin chào. hẹn gặp lại.")
    assert engine.calls == calls == 1 and all(p.cached for p in parts)
    assert (tmp_path / "cache" / f"{cache_key('XIN CHÀO. HẸN GẶP LẠI.', 'gtts', '', None)}.mp3").exists()


def test_offline_cache_hit_of_a_later_engine_is_preferred_to_synthesis(tmp_path, mp3):
    cache = TtsCache(tmp_path / "c")
    online = FakeEngine("gtts", mp3, fail=True)
    offline = FakeEngine("espeak", mp3)
    SpeechService([online, offline], cache=cache, normaliser=lambda t: t).speak("Câu một.")
    online.fail = False
    parts = SpeechService([online, offline], cache=cache, normaliser=lambda t: t).speak("Câu một.")
    assert parts[0].cached and online.calls == 1


def test_cache_lru_eviction_and_atomic_files(tmp_path):
    cache = TtsCache(tmp_path, max_bytes=2500)
    for i in range(4):
        cache.put(f"k{i}", bytes([i]) * 1000, "wav")
        time.sleep(0.01)
    assert cache.get("k0") is None and cache.get("k1") is None
    assert cache.get("k3") is not None and cache.size_bytes() <= 2500
    with pytest.raises(ValueError):
        cache.put("empty", b"", "wav")
    assert not list(tmp_path.glob(".*.tmp"))


def test_normaliser_runs_before_synthesis_and_keys(tmp_path, mp3):
    engine = FakeEngine("espeak", mp3, fmt="mp3")
    seen: list[str] = []
    orig = engine._synthesize
    engine._synthesize = lambda r: (seen.append(r.text), orig(r))[1]
    SpeechService([engine], cache=TtsCache(tmp_path)).speak("UBND xã họp lúc 7h30.")
    assert "UBND" not in seen[0] and "7h30" not in seen[0]


def test_split_long_text_keeps_every_word():
    text = "Câu thứ nhất. " * 60 + "một câu rất dài " * 50
    chunks = split_text(text, 300)
    assert all(len(c) <= 300 for c in chunks)
    assert " ".join(chunks).split() == text.split()


def test_espeak_voices_and_rate_produce_valid_audio():
    engine = EspeakEngine()
    for voice in ("vi", "vi-vn-x-central", "vi-vn-x-south"):
        r = engine.synthesize(SpeechRequest("Xin chào bà con", voice=voice, rate_wpm=130))
        assert check_audio(r.audio, "wav") > 0.5


def test_check_audio_refuses_empty_and_truncated():
    with pytest.raises(AudioError):
        check_audio(b"", "mp3")
    with pytest.raises(AudioError):
        check_audio(tone(0.05, "wav"), "wav")
