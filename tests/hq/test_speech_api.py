"""HQ speech: the default chain puts a neural voice first and falls back to espeak-ng quickly and visibly;
every rendering records engine, voice and quality; preview; voices; recordings are 'human'.

"No Internet" is modelled on loopback only (tests never touch a public address): gTTS is pointed at a
closed port (connection refused) or at a server that accepts and never answers (hard deadline).
"""

from __future__ import annotations

import socket
import time
from datetime import UTC, datetime, timedelta

import pytest

from hq_server.config import HqConfig
from hq_server.web import AUDIO
from loaxa_link.mosquitto import free_port
from tests.hq.fixtures import Hq

GTTS_PATH = "/_/TranslateWebserverUi/data/batchexecute"


def test_hq_default_chain_is_neural_first_with_espeak_last():
    cfg = HqConfig.model_validate({"commune": "xa-test"})
    assert cfg.bulletins.tts_engines == ["gtts", "espeak"]
    assert cfg.bulletins.tts_rate_wpm is None and cfg.bulletins.tts_voice == "female-north"


async def _offline_hq(start_hq, **gtts) -> Hq:
    return await start_hq(bulletins={"tts_engines": ["gtts", "espeak"],
                                     "tts_engine_options": {"gtts": gtts}})


async def test_without_internet_hq_falls_back_to_espeak_and_says_so(start_hq):
    hq = await _offline_hq(start_hq, endpoint=f"http://127.0.0.1:{free_port()}{GTTS_PATH}", timeout_s=3)
    t0 = time.monotonic()
    status, body = await hq.call("POST", "/api/v1/bulletins", role="broadcaster", json={
        "title": "Họp", "text": "Mời bà con họp lúc 7h30. Mang theo CCCD.", "targets": {"all": True}})
    assert status == 201, body
    assert time.monotonic() - t0 < 10
    b = body["bulletin"]
    assert len(b["audio_sha256"]) == 64
    speech = b["speech"]
    assert speech["engine"] == "espeak" and speech["quality"] == "robotic" and speech["voice"] == "vi"
    assert "gtts" in speech["note"] and "refused" in speech["note"] and speech["warning"]
    assert b["voice_warning"] is False  # already sent: the warning is for bulletins not yet gone out

    later = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
    status, body = await hq.call("POST", "/api/v1/bulletins", role="broadcaster", json={
        "text": "Lịch tiêm chủng ngày mai.", "send_at": later, "targets": {"all": True}})
    assert status == 201 and body["bulletin"]["state"] == "scheduled"
    assert body["bulletin"]["voice_warning"] is True and body["bulletin"]["speech"]["quality"] == "robotic"
    _, read = await hq.call("GET", f"/api/v1/bulletins/{body['bulletin']['id']}")
    assert read["bulletin"]["speech"] == body["bulletin"]["speech"] and read["bulletin"]["voice_warning"]
    _, listed = await hq.call("GET", "/api/v1/bulletins")
    assert all(x["speech"]["quality"] == "robotic" for x in listed["bulletins"])


@pytest.fixture
def silent_server():
    """Accepts TCP connections on 127.0.0.1 and never answers: a peer that hangs."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    yield srv.getsockname()[1]
    srv.close()


async def test_a_hanging_voice_service_costs_one_deadline_then_is_skipped(start_hq, silent_server):
    hq = await _offline_hq(start_hq, endpoint=f"http://127.0.0.1:{silent_server}{GTTS_PATH}", timeout_s=1)
    t0 = time.monotonic()
    status, first = await hq.call("POST", "/api/v1/speech/preview", role="broadcaster",
                                  json={"text": "Câu thứ nhất. " * 3 + "Câu cuối."})
    first_s = time.monotonic() - t0
    assert status == 200 and first["speech"]["engine"] == "espeak", first
    assert first_s < 8, first_s
    t1 = time.monotonic()
    status, second = await hq.call("POST", "/api/v1/speech/preview", role="broadcaster",
                                   json={"text": "Một thông báo khác hẳn."})
    assert status == 200 and time.monotonic() - t1 < 3  # gTTS is in its cool-down: not tried again
    assert "gtts" in second["speech"]["note"] and second["voice_warning"] is True


async def test_preview_says_how_it_will_be_read_and_sending_it_costs_no_second_synthesis(hq):
    text = "UBND xã thông báo: họp lúc 8h CN, phí 20.000 đồng/hộ/tháng."
    status, pv = await hq.call("POST", "/api/v1/speech/preview", role="broadcaster", json={"text": text})
    assert status == 200, pv
    assert pv["normalised"].startswith("Ủy ban nhân dân xã thông báo: họp lúc tám giờ chủ nhật")
    assert pv["url"] == f"/audio/{pv['sha256']}" and pv["duration_s"] > 1
    assert pv["speech"]["quality"] == "robotic" and pv["voice_warning"] is True
    async with hq.client.get(pv["url"]) as r:
        assert r.status == 200 and (await r.read())[:4] == b"RIFF"
    speech = hq.app[AUDIO].speech
    before = speech.synthesised
    status, body = await hq.call("POST", "/api/v1/bulletins", role="broadcaster",
                                 json={"text": text, "targets": {"all": True}})
    assert status == 201 and body["bulletin"]["audio_sha256"] == pv["sha256"]
    assert speech.synthesised == before  # every sentence came from the cache
    assert (await hq.call("POST", "/api/v1/speech/preview", role="police", json={"text": "x"}))[0] == 403
    status, _ = await hq.call("POST", "/api/v1/speech/preview", role="broadcaster", json={"text": "   "})
    assert status == 400


async def test_voices_lists_the_chain_with_quality_and_choices(hq):
    status, body = await hq.call("GET", "/api/v1/speech/voices", role="broadcaster")
    assert status == 200
    assert [e["name"] for e in body["engines"]] == ["espeak"]
    espeak = body["engines"][0]
    assert espeak["quality"] == "robotic" and espeak["available"] is True
    assert {v["id"] for v in espeak["voices"]} == {"espeak:vi", "espeak:vi-vn-x-central", "espeak:vi-vn-x-south"}
    assert {"id": "female-south", "label": "Nữ miền Nam"} in body["choices"]


async def test_a_voice_choice_changes_the_rendering(hq):
    texts = {}
    for voice in ("male-south", "vi-vn-x-central"):
        status, pv = await hq.call("POST", "/api/v1/speech/preview", role="broadcaster",
                                   json={"text": "Xin chào bà con.", "voice": voice})
        assert status == 200
        texts[voice] = pv
    assert texts["male-south"]["speech"]["voice"] == "vi-vn-x-south"
    assert texts["vi-vn-x-central"]["speech"]["voice"] == "vi-vn-x-central"
    assert texts["male-south"]["sha256"] != texts["vi-vn-x-central"]["sha256"]


async def test_an_audio_bulletin_is_a_human_voice(hq):
    rendering = await hq.app[AUDIO].render("Bản ghi âm thử")
    data = hq.app[AUDIO].find(rendering.audio.sha256).read_bytes()
    status, up = await hq.call("POST", "/api/v1/audio", role="broadcaster", data=data,
                               headers={"Content-Type": "audio/wav"})
    assert status == 201, up
    status, body = await hq.call("POST", "/api/v1/bulletins", role="broadcaster", json={
        "kind": "audio", "audio_sha256": up["sha256"], "targets": {"all": True}})
    assert status == 201
    b = body["bulletin"]
    assert b["speech"]["quality"] == "human" and b["voice_warning"] is False
    # what goes out is the processed rendition (trimmed, loudness-normalised), the upload stays whole
    assert b["audio_sha256"] != up["sha256"] and b["audio_duration_s"] > 0.5
    assert hq.app[AUDIO].find(up["sha256"]).read_bytes() == data
