"""Done-when for cloud voices: with each provider's local stand-in, a bulletin is rendered once by that
provider, cached, served by hash and played by a real node agent, with the quality class in the API.

Real HQ (in process, SQLite), real Mosquitto, a real EdgeAgent, real espeak-ng/ffmpeg; the five
providers are the stand-ins of tests/speech/cloud_standins.py on 127.0.0.1 (the only fake: the
network edge). Keys come from environment variables and, for Azure and FPT.AI, from key files.
"""

from __future__ import annotations

import logging

import pytest
from aiohttp.test_utils import TestServer

from loaxa_contract.models import AckStage
from tests.hq.fixtures import Hq, start_hq  # noqa: F401
from tests.integration.test_hq_delivery import _nodes_online
from tests.speech.cloud_standins import KEYS, PROVIDERS, Standins, engine_options

pytestmark = pytest.mark.integration

VOICES = {"google": "google:vi-VN-Wavenet-B", "azure": "azure:vi-VN-HoaiMyNeural", "fpt": "fpt:giahuy",
          "viettel": "viettel:hcm-diemmy", "zalo": "zalo:1"}


@pytest.fixture
async def standins():
    state = Standins(dict(KEYS))
    server = TestServer(state.app(), host="127.0.0.1")
    await server.start_server()
    state.base_url = str(server.make_url("")).rstrip("/")
    yield state
    await server.close()
    assert not state.problems, state.problems


async def test_each_cloud_voice_renders_once_is_cached_served_and_played(start_hq, start_agent, tap,  # noqa: F811
                                                                         standins, tmp_path, monkeypatch, caplog):
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("LOAXA_GOOGLE_TTS_KEY", KEYS["google"])
    monkeypatch.setenv("LOAXA_VIETTEL_TTS_TOKEN", KEYS["viettel"])
    monkeypatch.setenv("LOAXA_ZALO_TTS_KEY", KEYS["zalo"])
    hq: Hq = await start_hq(bulletins={"tts_engines": [*PROVIDERS, "espeak"],
                                       "tts_engine_options": engine_options(standins.base_url, tmp_path)})
    await start_agent("a-1", zones=["thon-1"])
    await _nodes_online(hq, "a-1")

    status, voices = await hq.call("GET", "/api/v1/speech/voices", role="broadcaster")
    assert status == 200 and [e["name"] for e in voices["engines"]] == [*PROVIDERS, "espeak"]
    assert all(e["available"] for e in voices["engines"])

    for name in PROVIDERS:
        text = f"Thông báo của xã, đọc bằng giọng {name}: mời bà con họp lúc 8h CN."
        status, pv = await hq.call("POST", "/api/v1/speech/preview", role="broadcaster",
                                   json={"text": text, "voice": VOICES[name]})
        assert status == 200, pv
        assert pv["quality"] == "neural" and pv["speech"]["engine"] == name and pv["voice_warning"] is False
        assert pv["speech"]["voice"] == VOICES[name].split(":", 1)[1]
        assert len(standins.synth_requests(name)) == 1

        status, body = await hq.call("POST", "/api/v1/bulletins", role="broadcaster", json={
            "title": name, "text": text, "voice": VOICES[name], "targets": {"nodes": ["a-1"]}})
        assert status == 201, body
        b = body["bulletin"]
        assert len(standins.synth_requests(name)) == 1, "sending the previewed text must not synthesise again"
        assert b["audio_sha256"] == pv["sha256"]
        assert b["speech"]["engine"] == name and b["speech"]["quality"] == "neural" and b["speech"]["note"] is None

        async with hq.client.get(f"/audio/{b['audio_sha256']}") as r:  # served by hash, no credentials
            assert r.status == 200 and (await r.read())[:4] == b"RIFF"
        played = await hq.wait_delivery(b["id"], "a-1", "played", timeout=60)
        rendered = [a for a in tap.acks if a.bulletin_id == b["id"] and a.stage == AckStage.RENDERED]
        assert rendered and (rendered[0].detail or "").startswith("hq-audio " + b["audio_sha256"][:12])
        assert played["duration_s"] and played["duration_s"] > 1

        _, read = await hq.call("GET", f"/api/v1/bulletins/{b['id']}")
        assert read["bulletin"]["speech"]["quality"] == "neural"

    # no provider was ever called twice, and no key ever reached a log line
    assert {n: len(standins.synth_requests(n)) for n in PROVIDERS} == dict.fromkeys(PROVIDERS, 1)
    for key in KEYS.values():
        assert key not in caplog.text


async def test_when_the_first_provider_fails_the_next_one_reads_and_the_api_says_why(start_hq, standins,  # noqa: F811
                                                                                      tmp_path, monkeypatch):
    monkeypatch.setenv("LOAXA_GOOGLE_TTS_KEY", "a-revoked-key")
    hq: Hq = await start_hq(bulletins={"tts_engines": ["google", "fpt", "espeak"], "tts_voice": "male-central",
                                       "tts_engine_options": engine_options(standins.base_url, tmp_path)})
    status, body = await hq.call("POST", "/api/v1/bulletins", role="broadcaster", json={
        "text": "Thông báo lịch tiêm phòng.", "targets": {"all": True}})
    assert status == 201, body
    speech = body["bulletin"]["speech"]
    assert speech["engine"] == "fpt" and speech["voice"] == "giahuy" and speech["quality"] == "neural"
    assert "google" in speech["note"] and "HTTP 403" in speech["note"] and "a-revoked-key" not in speech["note"]
