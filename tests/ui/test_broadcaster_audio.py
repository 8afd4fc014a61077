"""A voice recorded in the browser, and an uploaded audio file, each sent to a village and played by its nodes.

Chromium's fake microphone (``--use-fake-device-for-media-stream``) reads a WAV of Vietnamese speech made by
espeak-ng (``--use-file-for-fake-audio-capture``), so MediaRecorder records real speech, HQ converts the WebM to
WAV, and real edge agents fetch and play it. Both flows at desktop and phone width.
"""

from __future__ import annotations

import io
import re
import wave
from pathlib import Path

import numpy as np
import pytest

from tests.hq.fixtures import Hq
from tests.ui.browser import (  # noqa: F401  (browser, voice_browser: fixtures)
    SCREENS,
    Screen,
    browser,
    login,
    new_page,
    shot,
    speech_wav,
    voice_browser,
)
from tests.ui.test_broadcaster_browser import choose_village, nodes_online

pytestmark = pytest.mark.integration
NODES = ("thon1-loa-a", "thon1-loa-b")


async def two_loudspeakers(hq: Hq, start_agent) -> None:
    await hq.add_zones("thon-1")
    for node in NODES:
        await start_agent(node, zones=["thon-1"])
    await nodes_online(hq, *NODES)


async def stored_wav(hq: Hq, url: str) -> tuple[float, float]:
    """(duration in seconds, RMS of the samples in full-scale units) of the audio HQ stored and serves to nodes."""
    async with hq.client.get(url) as resp:
        assert resp.status == 200 and resp.content_type == "audio/wav", resp.content_type
        data = await resp.read()
    with wave.open(io.BytesIO(data)) as w:
        width = w.getsampwidth()
        assert width in (2, 4), width  # 16-bit PCM (uploads, speech) or 32-bit (ffmpeg's WebM → WAV)
        samples = np.frombuffer(w.readframes(w.getnframes()), dtype=f"<i{width}").astype(np.float64)
        frames = samples / 2 ** (8 * width - 1)
        return w.getnframes() / w.getframerate(), float(np.sqrt(np.mean(frames ** 2)))


async def broadcast_rendition(hq: Hq, bulletin: dict, uploaded_s: float) -> float:
    """What goes out is the recording with its silent ends trimmed and its loudness normalised (HQ's rendition):
    still speech, no longer than the upload. Returns its length."""
    assert bulletin["kind"] == "audio" and bulletin["speech"]["quality"] == "human"
    duration, rms = await stored_wav(hq, f"/audio/{bulletin['audio_sha256']}")
    assert 1.5 <= duration <= uploaded_s + 0.1 and rms > 0.01, (duration, rms)
    return duration


async def send_and_watch(page, hq: Hq) -> dict:
    """Tick Thôn 1, send now, and wait on the live page until both loudspeakers played it."""
    await choose_village(page, "thon 1")
    await page.get_by_role("button", name="Gửi ngay").click()
    await page.wait_for_url(re.compile(r"/bulletins/[0-9a-f]+$"))
    for node in NODES:
        await page.locator(f'tr[data-node="{node}"] [data-state="played"]').wait_for(timeout=90_000)
    _, body = await hq.call("GET", f"/api/v1/bulletins/{page.url.rsplit('/', 1)[1]}")
    return body["bulletin"]


@pytest.mark.parametrize("screen", SCREENS, ids=[s.name for s in SCREENS])
async def test_record_a_voice_and_play_it(hq: Hq, start_agent, voice_browser, screen: Screen) -> None:  # noqa: F811
    await two_loudspeakers(hq, start_agent)
    page = await new_page(voice_browser, hq, screen)
    await login(page, "broadcaster-1")
    await page.goto("/compose")
    await page.get_by_label("Tiêu đề").fill("Lời nhắn ghi âm")
    await page.get_by_role("radio", name="Ghi âm giọng nói").check()
    await page.locator("#btn-rec").click()
    status = page.locator("#rec-status")
    await status.filter(has_text="Đang ghi âm").wait_for()
    started = await page.evaluate("performance.now()")
    # a recording needs length: wait until the page's own clock says 3 s of microphone have gone by
    await page.wait_for_function(f"performance.now() - {started} > 3000")
    await page.locator("#btn-stop").click()
    await status.filter(has_text="Đã có âm thanh").wait_for()
    seconds = int(re.search(r"\((\d+) giây\)", await status.inner_text()).group(1))
    assert seconds >= 2, await status.inner_text()
    src = await page.locator("#audio-player").get_attribute("src")
    assert re.fullmatch(r"/audio/[0-9a-f]{64}", src), src
    await shot(page, screen, "09-compose-recorded")

    duration, rms = await stored_wav(hq, src)
    assert duration >= 2.5, duration
    assert rms > 0.01, f"the recording is silent (RMS {rms:.4f})"  # the fake microphone's speech reached HQ

    bulletin = await send_and_watch(page, hq)
    played = await broadcast_rendition(hq, bulletin, duration)
    assert await page.locator("#b-voice").get_attribute("data-quality") == "human"
    assert "giọng người (ghi âm)" in await page.locator("#b-voice").inner_text()
    assert await page.locator("#robotic-warning").count() == 0
    deliveries = await hq.deliveries(bulletin["id"])
    for node in NODES:  # each node played the whole recording, not a stub
        assert deliveries[node]["duration_s"] >= played - 0.5, deliveries[node]


@pytest.mark.parametrize("screen", SCREENS, ids=[s.name for s in SCREENS])
async def test_upload_an_audio_file_and_play_it(hq: Hq, start_agent, browser, screen: Screen,  # noqa: F811
                                                tmp_path: Path) -> None:
    await two_loudspeakers(hq, start_agent)
    wav = speech_wav(tmp_path / "thong-bao.wav", "Thông báo: ngày mai xã tổ chức tiêm phòng cho trẻ em.")
    page = await new_page(browser, hq, screen)
    await login(page, "broadcaster-1")
    await page.goto("/compose")
    await page.get_by_label("Tiêu đề").fill("Tiêm phòng")
    await page.get_by_role("radio", name="Tải tệp âm thanh").check()
    await page.get_by_label("Tệp âm thanh (WAV, MP3 hoặc OGG)").set_input_files(str(wav))
    await page.locator("#upload-status").filter(has_text="Đã có âm thanh").wait_for()
    src = await page.locator("#audio-player").get_attribute("src")
    await page.wait_for_function("document.querySelector('#audio-player').readyState >= 1")
    assert await page.locator("#audio-player").evaluate("a => a.duration") > 1.0  # the browser decodes HQ's copy
    await shot(page, screen, "10-compose-uploaded")

    duration, rms = await stored_wav(hq, src)
    with wave.open(str(wav)) as w:
        assert abs(duration - w.getnframes() / w.getframerate()) < 0.1  # the file as uploaded
    assert rms > 0.01
    bulletin = await send_and_watch(page, hq)
    played = await broadcast_rendition(hq, bulletin, duration)
    deliveries = await hq.deliveries(bulletin["id"])
    for node in NODES:
        assert deliveries[node]["duration_s"] >= played - 0.5, deliveries[node]
