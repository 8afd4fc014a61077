"""Where a bulletin's audio comes from: HQ's rendering first (hash-verified), local TTS as fallback."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest

from edge_agent.programme.fetch import AudioFetcher, FetchError
from edge_agent.programme.render import Renderer
from loaxa_contract.models import BulletinCommand
from loaxa_link.mosquitto import free_port
from loaxa_speech.audio import RenderOptions
from loaxa_speech.tts.engines.espeak import EspeakEngine
from loaxa_speech.tts.service import SpeechService


def _hq_wav() -> bytes:
    # a real, decodable rendering, as HQ would have produced it (a different voice, to tell them apart)
    from loaxa_speech.tts.engines.base import SpeechRequest

    return EspeakEngine().synthesize(SpeechRequest("Bản tin của Ủy ban", voice="vi-vn-x-south")).audio


def _cmd(kind: str, sha: str | None, port: int) -> BulletinCommand:
    audio = {"sha256": sha, "url": f"http://127.0.0.1:{port}/audio/{sha}"} if sha else None
    return BulletinCommand(id="c1", seq=1, target="all", expires_at=datetime.now(UTC) + timedelta(minutes=5),
                           bulletin_id="b1", kind=kind, text="Xin chào bà con" if kind == "text" else "",
                           audio=audio)


@pytest.fixture
def renderer(tmp_path) -> Renderer:
    speech = SpeechService([EspeakEngine()])
    fetcher = AudioFetcher(tmp_path / "hq-audio", base_url=None, timeout_s=2)
    return Renderer(speech, fetcher, RenderOptions(), voice="vi", rate_wpm=150)


def test_hq_rendering_is_used_without_synthesis(renderer: Renderer) -> None:
    wav = _hq_wav()
    sha = hashlib.sha256(wav).hexdigest()
    renderer.fetcher.path_for(sha).write_bytes(wav)  # already downloaded and verified by file name
    assert renderer.prepare(_cmd("text", sha, free_port())).startswith("hq-audio")
    assert renderer.speech.synthesised == 0


def test_text_bulletin_falls_back_to_local_tts_when_hq_is_unreachable(renderer: Renderer) -> None:
    sha = "ab" * 32
    description = renderer.prepare(_cmd("text", sha, free_port()))  # nothing listens on that port
    assert description.startswith("espeak") and renderer.speech.synthesised >= 1
    assert len(renderer.render(_cmd("text", sha, free_port()), volume=100)) > 1000


def test_tampered_hq_file_is_refused_and_text_is_synthesised(renderer: Renderer) -> None:
    wav = _hq_wav()
    sha = hashlib.sha256(wav).hexdigest()
    mid = len(wav) // 2
    tampered = wav[:mid] + bytes(b ^ 0x55 for b in wav[mid : mid + 100]) + wav[mid + 100 :]
    assert hashlib.sha256(tampered).hexdigest() != sha
    renderer.fetcher.path_for(sha).write_bytes(tampered)  # fails its hash
    assert renderer.prepare(_cmd("text", sha, free_port())).startswith("espeak")


def test_audio_bulletin_without_reachable_hq_fails(renderer: Renderer) -> None:
    with pytest.raises(FetchError, match=r"download .* failed"):
        renderer.prepare(_cmd("audio", "cd" * 32, free_port()))
