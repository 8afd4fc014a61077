"""The speech chain: quality classes, recorded fallbacks, hard deadlines, cool-downs, voice wishes, espeak pace.

Engines here are stand-ins behind the real interface (the synthesis edge); the chain, cache, validation
and summary are the real code. espeak-ng is the real binary.
"""

from __future__ import annotations

import threading
import time

import pytest

from loaxa_speech.audio import check_audio
from loaxa_speech.tts.cache import TtsCache
from loaxa_speech.tts.engines.base import (
    EngineUnavailable,
    Quality,
    SpeechRequest,
    SpeechResult,
    TtsEngine,
    TtsError,
    wav_duration_s,
)
from loaxa_speech.tts.engines.espeak import EspeakEngine
from loaxa_speech.tts.service import SpeechService
from loaxa_speech.tts.summary import ROBOTIC_WARNING, summarise
from loaxa_speech.tts.voices import CATALOGUE, parse_voice, pick, speed_factor


def espeak_wav(text: str = "Xin chào bà con") -> bytes:
    return EspeakEngine().synthesize(SpeechRequest(text)).audio


class Stub(TtsEngine):
    """A synthesis edge that answers with real audio, fails on demand, or hangs."""

    def __init__(self, name: str, *, quality: Quality = Quality.NEURAL, fail: TtsError | None = None,
                 hang_s: float = 0.0, voices: tuple = (), default_voice: str = "v1") -> None:
        self.name, self.fail, self.hang_s, self.calls = name, fail, hang_s, []
        self.quality = quality  # type: ignore[misc]
        self.voices = voices  # type: ignore[misc]
        self.default_voice = default_voice
        self.timeout_s = 0.3
        self.release = threading.Event()

    def _synthesize(self, request: SpeechRequest) -> SpeechResult:
        self.calls.append(request)
        if self.hang_s:
            self.release.wait(self.hang_s)
        if self.fail is not None:
            raise self.fail
        return SpeechResult(espeak_wav(request.text), "wav", self.name, request.voice or "")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def service(*engines: TtsEngine, **kw) -> SpeechService:
    return SpeechService(list(engines), validate=check_audio, normaliser=lambda t: t, **kw)


def test_a_fallback_is_recorded_with_its_reason_and_quality():
    neural = Stub("gtts", fail=EngineUnavailable("không có Internet (no Internet: DNS lookup failed)"))
    robot = EspeakEngine()
    parts = service(neural, robot).speak("Câu một.")
    assert [p.engine for p in parts] == ["espeak"] and parts[0].quality == Quality.ROBOTIC
    assert parts[0].voice == "vi" and parts[0].skipped == ("gtts: không có Internet (no Internet: DNS lookup failed)",)
    summary = summarise(parts)
    assert summary.quality == Quality.ROBOTIC and summary.robotic
    assert "gtts: không có Internet" in (summary.note or "") and summary.as_dict()["warning"] == ROBOTIC_WARNING


def test_neural_rendering_has_no_note_and_no_warning():
    parts = service(Stub("google"), EspeakEngine()).speak("Câu một. Câu hai.")
    summary = summarise(parts)
    assert summary.quality == Quality.NEURAL and summary.note is None and summary.as_dict()["warning"] is None
    assert summary.engine == "google"


def test_one_robotic_sentence_makes_the_rendering_robotic():
    flaky = Stub("google")
    svc = service(flaky, EspeakEngine())
    first = svc.speak("Câu một.")
    flaky.fail = TtsError("văn bản bị từ chối (request refused, HTTP 400)")
    parts = first + svc.speak("Câu hai.")
    summary = summarise(parts)
    assert summary.quality == Quality.ROBOTIC and summary.engine == "google+espeak"


def test_an_unreachable_engine_is_skipped_for_the_cool_down_not_retried_per_sentence():
    clock = Clock()
    offline = Stub("google", fail=EngineUnavailable("máy chủ từ chối kết nối (connection refused)"))
    svc = service(offline, EspeakEngine(), clock=clock, cooldown_s=60, max_chunk_chars=5)
    parts = svc.speak("Một. Hai. Ba. Bốn.", voice=None)  # four chunks of at most 5 characters
    assert len(parts) == 4 and len(offline.calls) == 1  # failed once, then skipped
    assert all(p.engine == "espeak" and p.skipped for p in parts)
    assert "connection refused" in parts[3].skipped[0]
    clock.now += 61
    offline.fail = None
    assert svc.speak("Năm.")[0].engine == "google"


def test_a_hanging_engine_is_abandoned_at_its_hard_deadline():
    hung = Stub("azure", hang_s=30)
    svc = service(hung, EspeakEngine(), deadline_grace_s=0.2)
    t0 = time.monotonic()
    part = svc.speak("Thông báo khẩn.")[0]
    elapsed = time.monotonic() - t0
    hung.release.set()
    assert part.engine == "espeak" and elapsed < 5, elapsed
    assert "no answer within" in part.skipped[0]


def test_a_refused_text_does_not_start_a_cool_down():
    clock = Clock()
    picky = Stub("fpt", fail=TtsError("yêu cầu bị từ chối (request refused, HTTP 400)"))
    svc = service(picky, EspeakEngine(), clock=clock, max_chunk_chars=8)
    svc.speak("Một. Hai.")
    assert len(picky.calls) == 2


def test_an_engine_bug_is_a_failure_of_that_engine_only():
    class Broken(Stub):
        def _synthesize(self, request):
            raise KeyError("oops")

    part = service(Broken("zalo"), EspeakEngine()).speak("Xin chào.")[0]
    assert part.engine == "espeak" and "KeyError" in part.skipped[0]


def test_all_engines_failing_is_an_error_naming_each_reason():
    with pytest.raises(TtsError, match=r"google: .*refused.*fpt: .*quota"):
        service(Stub("google", fail=EngineUnavailable("refused")),
                Stub("fpt", fail=EngineUnavailable("quota"))).speak("Xin chào.")


def test_without_cache_first_a_cached_robotic_rendering_never_beats_a_reachable_neural_voice(tmp_path):
    cache = TtsCache(tmp_path)
    neural = Stub("google", fail=EngineUnavailable("offline"))
    clock = Clock()
    svc = service(neural, EspeakEngine(), cache=cache, cache_first=False, clock=clock)
    assert svc.speak("Câu một.")[0].engine == "espeak"  # Internet down: espeak-ng, cached
    neural.fail = None
    clock.now += 3600
    again = svc.speak("Câu một.")[0]
    assert again.engine == "google" and not again.cached
    third = svc.speak("Câu một.")[0]
    assert third.engine == "google" and third.cached and len(neural.calls) == 2


def test_a_voice_wish_naming_an_engine_puts_it_first_and_keeps_gender_and_accent():
    fpt = Stub("fpt", voices=CATALOGUE["fpt"], default_voice="banmai")
    google = Stub("google", voices=CATALOGUE["google"], default_voice="vi-VN-Wavenet-A")
    svc = service(google, fpt, EspeakEngine())
    part = svc.speak("Xin chào.", voice="fpt:lannhi")[0]
    assert part.engine == "fpt" and part.voice == "lannhi" and fpt.calls[0].voice == "lannhi"
    fpt.fail = EngineUnavailable("quota")
    google_part = svc.speak("Tạm biệt.", voice="fpt:giahuy")[0]
    assert google_part.engine == "google" and google_part.voice in {"vi-VN-Wavenet-B", "vi-VN-Wavenet-D"}


@pytest.mark.parametrize(("wish", "engine", "expected"), [
    ("female-south", "fpt", "lannhi"),
    ("male-central", "viettel", "hue-baoquoc"),
    ("male-south", "zalo", "3"),
    ("female", "azure", "vi-VN-HoaiMyNeural"),
    ("male", "azure", "vi-VN-NamMinhNeural"),
    ("south", "espeak", "vi-vn-x-south"),
    ("vi-vn-x-central", "fpt", "myan"),          # an espeak id carries its accent to other engines
    ("vi-VN-NamMinhNeural", "zalo", "4"),         # an Azure id: male, Northern
    ("hcm-diemmy", "viettel", "hcm-diemmy"),
    ("zalo:1", "fpt", "lannhi"),
    (None, "google", "vi-VN-Wavenet-A"),
    ("bogus-voice", "google", "vi-VN-Wavenet-A"),
    ("female-north", "gtts", "vi"),
])
def test_voice_wishes_mean_the_same_to_every_engine(wish, engine, expected):
    defaults = {"fpt": "banmai", "viettel": "hn-quynhanh", "zalo": "2", "azure": "vi-VN-HoaiMyNeural",
                "espeak": "vi", "google": "vi-VN-Wavenet-A", "gtts": "vi"}
    assert pick(CATALOGUE[engine], parse_voice(wish), defaults[engine], engine) == expected


def test_speed_factor_scales_from_the_natural_pace_and_is_clamped():
    assert speed_factor(None) == 1.0 and speed_factor(150) == 1.0 and speed_factor(120) == 0.8
    assert speed_factor(300, high=1.3) == 1.3 and speed_factor(80, low=0.8) == 0.8


def test_espeak_reads_vietnamese_at_140_wpm_by_default():
    engine = EspeakEngine()
    text = "Ủy ban nhân dân xã thông báo lịch tiêm vắc-xin cho trẻ em dưới năm tuổi."
    default = engine.synthesize(SpeechRequest(text)).audio
    assert default == engine.synthesize(SpeechRequest(text, rate_wpm=140)).audio
    fast = engine.synthesize(SpeechRequest(text, rate_wpm=175)).audio
    assert wav_duration_s(default) > wav_duration_s(fast) * 1.15
    assert EspeakEngine.quality == Quality.ROBOTIC
