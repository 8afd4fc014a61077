"""Uploads are stored whole or refused: real 5 MB recordings over real HTTP, declared and chunked, the
50 MB cap with and without Content-Length, and files whose header lies or that are cut short."""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hq_server.services.media import MediaError, check_audio, wav_claimed_seconds
from hq_server.web import AUDIO
from tests.conftest import require_binary

SECONDS = 160.0
TYPES = {"wav": "audio/wav", "mp3": "audio/mpeg", "ogg": "audio/ogg"}


@pytest.fixture(scope="session")
def recordings(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A 160 s recording (pink noise, like a voice recorder's hiss) as ~5 MB WAV, MP3 and Ogg/Opus."""
    require_binary("ffmpeg")
    root = tmp_path_factory.mktemp("recordings")
    src = root / "rec.wav"
    encode = {"wav": ["-ar", "16000", "-ac", "1", "-sample_fmt", "s16"], "mp3": ["-ar", "44100", "-b:a", "256k"],
              "ogg": ["-c:a", "libopus", "-b:a", "256k"]}
    out = {}
    for fmt, args in encode.items():
        path = root / f"rec.{fmt}"
        noise = f"anoisesrc=d={SECONDS:g}:c=pink:a=0.3:r=16000:seed=7"
        inp = ["-f", "lavfi", "-i", noise] if fmt == "wav" else ["-i", str(src)]
        subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", *inp, *args, str(path)], check=True)
        out[fmt] = path
    return out


async def _upload(hq, data, content_type: str, **headers: str) -> tuple[int, dict]:
    return await hq.call("POST", "/api/v1/audio", role="broadcaster", data=data,
                         headers={"Content-Type": content_type, **headers})


async def _chunks(data: bytes, size: int = 100_000) -> AsyncIterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i:i + size]


def _stored(hq) -> set[str]:
    return {p.name for p in hq.app[AUDIO].dir.iterdir()}


@pytest.mark.parametrize("fmt", list(TYPES))
async def test_a_5mb_recording_is_stored_whole_declared_or_chunked(hq, recordings, fmt) -> None:
    data = recordings[fmt].read_bytes()
    assert len(data) > 4_500_000
    sha = hashlib.sha256(data).hexdigest()
    status, body = await _upload(hq, data, TYPES[fmt])
    assert status == 201, body
    assert body["sha256"] == sha and body["bytes"] == len(data)
    assert abs(body["duration_s"] - SECONDS) < 0.1, body  # counted from the decoded samples
    async with hq.client.get(f"/audio/{sha}") as r:
        assert r.status == 200 and await r.read() == data
    # chunked transfer (no Content-Length): the same whole file
    status, body = await _upload(hq, _chunks(data), TYPES[fmt])
    assert status == 201 and body["sha256"] == sha and body["bytes"] == len(data), body
    assert not [n for n in _stored(hq) if n.endswith(".tmp")]


async def test_over_the_cap_is_413_with_or_without_content_length(hq) -> None:
    async def sixty_mb() -> AsyncIterator[bytes]:
        block = b"\0" * (1 << 20)
        for _ in range(60):
            yield block

    before = _stored(hq)
    status, body = await _upload(hq, sixty_mb(), "audio/wav")  # chunked: found while reading
    assert status == 413 and "body" in body["fields"], body
    status, body = await _upload(hq, sixty_mb(), "audio/wav", **{"Content-Length": str(60 << 20)})
    assert status == 413 and "body" in body["fields"], body
    assert _stored(hq) == before  # no temp file left behind


def _cut(data: bytes, fraction: float) -> bytes:
    return data[: int(len(data) * fraction)]


def _forged_wav(data: bytes) -> bytes:
    """Header says twice the audio (data chunk and RIFF size both enlarged), the file has the real data."""
    out = bytearray(data)
    pos = out.index(b"data")
    size = int.from_bytes(out[pos + 4:pos + 8], "little")
    out[pos + 4:pos + 8] = (size * 2).to_bytes(4, "little")
    out[4:8] = (len(out) - 8).to_bytes(4, "little")
    return bytes(out)


def _short_header(data: bytes) -> bytes:
    """Header says 20 s; 140 s of extra samples trail after the data chunk."""
    out = bytearray(data)
    pos = out.index(b"data")
    out[pos + 4:pos + 8] = (int.from_bytes(out[pos + 4:pos + 8], "little") // 8).to_bytes(4, "little")
    return bytes(out)


def _noise() -> bytes:
    return b"".join(hashlib.sha512(str(i).encode()).digest() for i in range(5000))


LIES = [
    ("wav", lambda d: _cut(d, 1 / 8), "audio/wav", "claims"),  # the 780 KB of a 5 MB file, header intact
    ("wav", _forged_wav, "audio/wav", "claims"),
    ("wav", _short_header, "audio/wav", "claims"),
    ("mp3", lambda d: _cut(d, 0.5), "audio/mpeg", "claims"),  # the Xing frame count says 160 s
    ("ogg", lambda d: _cut(d, 0.5), "audio/ogg", "end-of-stream"),
    ("mp3", lambda d: d, "audio/ogg", "not ogg"),
    ("ogg", lambda d: d, "audio/wav", "not wav"),
    ("mp3", lambda d: _noise(), "audio/mpeg", "not a readable media file"),
    ("wav", lambda d: _cut(d, 0.001), "audio/wav", "claims"),
]


@pytest.mark.parametrize(("fmt", "mangle", "content_type", "reason"), LIES,
                         ids=["wav-cut", "wav-forged", "wav-short-header", "mp3-cut", "ogg-cut", "mp3-as-ogg",
                              "ogg-as-wav", "noise-as-mp3", "wav-header-only"])
async def test_files_that_lie_or_are_cut_short_are_refused(hq, recordings, fmt, mangle, content_type, reason) -> None:
    before = _stored(hq)
    status, body = await _upload(hq, mangle(recordings[fmt].read_bytes()), content_type)
    assert status == 400 and reason in body["error"] and "file" in body["fields"], body
    assert ".tmp" not in body["error"]  # no server path in the answer
    assert _stored(hq) == before


def test_media_checks_directly(recordings, tmp_path) -> None:
    assert abs(wav_claimed_seconds(recordings["wav"]) - SECONDS) < 0.01
    facts = check_audio(recordings["mp3"], "mp3")
    assert facts.codec == "mp3" and abs(facts.duration_s - SECONDS) < 0.1
    short = tmp_path / "short.wav"
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-f", "lavfi", "-i", "sine=d=0.1", str(short)], check=True)
    with pytest.raises(MediaError, match="shorter"):
        check_audio(short, "wav")
