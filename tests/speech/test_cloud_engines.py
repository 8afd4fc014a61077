"""Cloud voices against local stand-ins of each provider's API (tests/speech/cloud_standins.py).

The real clients run (requests, JSON/SSML/form bodies, polling of async links); the stand-ins check
each request's shape and answer like the provider. Keys never appear in logs, errors or reprs.
"""

from __future__ import annotations

import asyncio
import logging
import time

import pytest
from aiohttp.test_utils import TestServer

from loaxa_speech.audio import check_audio
from loaxa_speech.tts.engines.base import EngineUnavailable, Quality, SpeechRequest, TtsError
from loaxa_speech.tts.engines.cloud.azure import ssml
from loaxa_speech.tts.registry import build_engine
from loaxa_speech.tts.service import SpeechService
from loaxa_speech.tts.summary import summarise
from tests.speech.cloud_standins import KEYS, PROVIDERS, Standins, engine_options

ENV = {"google": "LOAXA_GOOGLE_TTS_KEY", "azure": "LOAXA_AZURE_SPEECH_KEY", "fpt": "LOAXA_FPT_TTS_KEY",
       "viettel": "LOAXA_VIETTEL_TTS_TOKEN", "zalo": "LOAXA_ZALO_TTS_KEY"}


@pytest.fixture
async def standins():
    state = Standins(dict(KEYS))
    server = TestServer(state.app(), host="127.0.0.1")
    await server.start_server()
    state.base_url = str(server.make_url("")).rstrip("/")
    yield state
    await server.close()
    assert not state.problems, state.problems


@pytest.fixture
def keys_in_env(monkeypatch):
    for name, var in ENV.items():
        monkeypatch.setenv(var, KEYS[name])


def engine(standins: Standins, name: str, **extra):
    return build_engine(name, {**engine_options(standins.base_url)[name], **extra})


async def synth(eng, text="Ủy ban nhân dân xã thông báo lịch họp.", **kw):
    return await asyncio.to_thread(eng.synthesize, SpeechRequest(text, **kw))


@pytest.mark.parametrize(("name", "voice", "rate", "sent_speed"), [
    ("google", "vi-VN-Wavenet-D", 120, 0.8),
    ("azure", "vi-VN-NamMinhNeural", 165, "+10%"),
    ("fpt", "lannhi", 120, "-2"),
    ("viettel", "hue-maingoc", None, 1.0),
    ("zalo", "3", 135, "0.9"),
])
async def test_each_provider_is_called_as_documented_and_its_audio_decodes(standins, keys_in_env, name, voice,
                                                                           rate, sent_speed):
    eng = engine(standins, name)
    assert eng.available() and eng.quality == Quality.NEURAL
    result = await synth(eng, voice=voice, rate_wpm=rate)
    assert result.engine == name and result.voice == voice and check_audio(result.audio, result.fmt) > 0.5
    [req] = standins.synth_requests(name)
    assert req.text == "Ủy ban nhân dân xã thông báo lịch họp." and req.voice == voice and req.speed == sent_speed


async def test_async_providers_poll_the_link_until_the_file_exists(standins, keys_in_env):
    standins.not_ready_polls = 3
    for name in ("fpt", "zalo"):
        await synth(engine(standins, name))
    polls = [s for s in standins.seen if s.provider == "files"]
    assert len(polls) == 2 * 4  # three "not ready" answers, then the file, for each provider


async def test_an_async_file_that_never_appears_is_an_unavailable_provider(standins, keys_in_env):
    standins.not_ready_polls = 10_000
    eng = engine(standins, "fpt", timeout_s=1.5)
    t0 = time.monotonic()
    # the deadline may pass while a poll waits for its answer or reads it
    with pytest.raises(EngineUnavailable, match=r"not ready|no answer|deadline exceeded"):
        await synth(eng)
    assert time.monotonic() - t0 < 5


@pytest.mark.parametrize("name", PROVIDERS)
async def test_a_wrong_key_is_refused_clearly_and_never_shown(standins, monkeypatch, caplog, name):
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv(ENV[name], "wrong-key-that-must-stay-secret")
    eng = engine(standins, name)
    with pytest.raises(EngineUnavailable) as err:
        await synth(eng)
    assert "HTTP 40" in str(err.value) and ("key" in str(err.value).lower())
    assert "wrong-key-that-must-stay-secret" not in str(err.value) + repr(eng) + caplog.text


@pytest.mark.parametrize("name", ["google", "azure", "fpt", "viettel"])
async def test_a_provider_echoing_the_key_in_its_error_gets_it_redacted(standins, keys_in_env, caplog, name):
    caplog.set_level(logging.DEBUG)
    standins.mode[name] = "echo_key"
    with pytest.raises(TtsError) as err:
        await synth(engine(standins, name))
    assert "***" in str(err.value) or name == "azure"  # Azure's errors carry no body we read
    assert KEYS[name] not in str(err.value) + caplog.text


@pytest.mark.parametrize(("mode", "words"), [("server_error", "HTTP 503"), ("quota", "HTTP 429")])
async def test_provider_outages_and_quota_mean_unavailable(standins, keys_in_env, mode, words):
    standins.mode["google"] = mode
    with pytest.raises(EngineUnavailable, match=words):
        await synth(engine(standins, "google"))


async def test_no_key_configured_is_reported_before_any_request(standins, monkeypatch):
    monkeypatch.delenv(ENV["zalo"], raising=False)
    eng = engine(standins, "zalo")
    assert not eng.available() and "LOAXA_ZALO_TTS_KEY" in (eng.problem or "")
    with pytest.raises(EngineUnavailable, match="no API key"):
        await synth(eng)
    assert not standins.seen


async def test_keys_from_files_with_strict_permissions(standins, monkeypatch, tmp_path, caplog):
    for var in ENV.values():
        monkeypatch.delenv(var, raising=False)
    opts = engine_options(standins.base_url, tmp_path)
    eng = build_engine("azure", opts["azure"])
    assert eng.available() and KEYS["azure"] not in repr(eng) and "file" in repr(eng)
    await synth(eng)
    (tmp_path / "fpt.key").chmod(0o644)
    caplog.set_level(logging.WARNING)
    assert build_engine("fpt", opts["fpt"]).available()
    assert "readable by other users" in caplog.text
    missing = build_engine("google", {"api_key_file": str(tmp_path / "nope.key"), "base_url": standins.base_url})
    assert not missing.available() and "nope.key" in (missing.problem or "")


def test_azure_ssml_escapes_the_bulletin_text():
    doc = ssml('Giá <5.000đ> & "miễn phí"', "vi-VN-HoaiMyNeural", None)
    assert "&lt;5.000đ&gt; &amp;" in doc and "<prosody rate='+0%'>" in doc


async def test_azure_round_trips_markup_characters(standins, keys_in_env):
    await synth(engine(standins, "azure"), text="Phí <5.000đ> & lệ phí </voice><voice name='x'>")
    [req] = standins.synth_requests("azure")
    assert req.text == "Phí <5.000đ> & lệ phí </voice><voice name='x'>"


async def test_a_chain_of_cloud_voices_falls_through_to_the_next_provider(standins, keys_in_env):
    standins.mode["azure"] = "server_error"
    chain = [engine(standins, "azure"), engine(standins, "fpt"), build_engine("espeak")]
    service = SpeechService(chain, validate=check_audio, normaliser=lambda t: t, cache_first=False)
    parts = await asyncio.to_thread(service.speak, "Mời bà con dự họp.", voice="female-south")
    summary = summarise(parts)
    assert summary.engine == "fpt" and summary.voice == "lannhi" and summary.quality == Quality.NEURAL
    assert "azure" in summary.note and "HTTP 503" in summary.note
