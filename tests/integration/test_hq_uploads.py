"""A 5 MB recording uploaded to HQ is played by a node for its whole real duration (not the first 20 s).

Real HTTP upload (declared length), real Mosquitto, a real EdgeAgent that downloads the file by hash,
verifies it, decodes and renders it; only the sound card is replaced (null sink: reports the length of
exactly the audio it was given, without waiting that long).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.conftest import require_binary
from tests.hq.fixtures import hq, start_hq  # noqa: F401

pytestmark = pytest.mark.integration
SECONDS = 160.0


async def test_a_5mb_recording_plays_for_its_real_duration(hq, start_agent, tmp_path: Path) -> None:  # noqa: F811
    require_binary("ffmpeg")
    wav = tmp_path / "rec.wav"
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-f", "lavfi", "-i",
                    f"anoisesrc=d={SECONDS:g}:c=pink:a=0.3:r=16000:seed=3", "-ac", "1", "-sample_fmt", "s16",
                    str(wav)], check=True)
    data = wav.read_bytes()
    assert len(data) > 5_000_000
    await start_agent("loa-1", zones=["thon-1"], sink="null")
    status, up = await hq.call("POST", "/api/v1/audio", role="broadcaster", data=data,
                               headers={"Content-Type": "audio/wav"})
    assert status == 201 and up["bytes"] == len(data) and abs(up["duration_s"] - SECONDS) < 0.1, up
    status, body = await hq.call("POST", "/api/v1/bulletins", role="broadcaster", json={
        "kind": "audio", "audio_sha256": up["sha256"], "title": "Ghi âm", "targets": {"nodes": ["loa-1"]}})
    assert status == 201, body
    played = await hq.wait_delivery(body["bulletin"]["id"], "loa-1", "played", timeout=90)
    assert abs(played["duration_s"] - SECONDS) < 0.5, played
