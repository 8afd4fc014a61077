"""Is an uploaded file what it claims to be, whole? Checked with the real decoders (ffprobe, ffmpeg).

Why decode everything: a file can start with the right magic bytes and still be unplayable, cut short
or lie in its header. A WAV whose header claims 160 s while the data holds 20 s would have its
header's duration sent to the nodes, and HQ would report a bulletin played that never fully was.
So, for audio: the container must be the declared type; the whole stream is decoded (``-xerror``:
any decoding error refuses the file) and its real duration counted from the decoded samples; a
duration the header states (WAV data size, MP3 Xing/Info frame count) must agree with it; a WAV's
chunks must exactly fill the file; an Ogg stream must end with its end-of-stream page. For JPEG: the
end-of-image marker must be there and the picture must decode without error.

Blocking (subprocesses): call through ``asyncio.to_thread``.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

FORMAT_NAMES = {"wav": {"wav"}, "mp3": {"mp3"}, "ogg": {"ogg"}, "opus": {"ogg"}, "webm": {"webm", "matroska"}}
"""ffprobe ``format_name`` values accepted for each declared type."""
DECODE_RATE = 8000
"""Decoded to 8 kHz mono 16-bit only to count samples: cheap, and exact to 1/8000 s."""
MIN_AUDIO_S = 0.2
MAX_AUDIO_S = 2 * 3600.0
"""Longer than two hours is not an announcement (relay a stream instead)."""
DURATION_TOLERANCE_S = 0.25
DURATION_TOLERANCE = 0.02
PROBE_TIMEOUT_S = 30.0
DECODE_TIMEOUT_S = 300.0
MAX_JPEG_SIDE = 10_000


class MediaError(ValueError):
    """The file is refused; the message says why in Vietnamese (English), for the uploader."""


@dataclass(frozen=True)
class AudioFacts:
    fmt: str
    codec: str
    duration_s: float  # counted from the decoded samples, not read from a header


def _run(cmd: list[str], timeout: float) -> subprocess.CompletedProcess[bytes]:
    try:
        return subprocess.run(cmd, capture_output=True, timeout=timeout, check=False, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as err:
        raise MediaError(f"Kiểm tra tệp quá lâu (checking the file took longer than {timeout:.0f} s)") from err
    except FileNotFoundError as err:  # a broken installation, not the uploader's fault
        raise RuntimeError(f"{cmd[0]} is not installed (Debian: apt-get install ffmpeg)") from err


def _probe(path: Path) -> dict:
    proc = _run(["ffprobe", "-v", "error", "-show_entries",
                 "format=format_name,duration:stream=codec_type,codec_name,width,height",
                 "-of", "json", str(path)], PROBE_TIMEOUT_S)
    if proc.returncode != 0:
        raise MediaError(f"Không đọc được tệp (not a readable media file): {_first_line(proc.stderr, path)}")
    try:
        return json.loads(proc.stdout)
    except ValueError as err:
        raise MediaError("Không đọc được tệp (ffprobe gave no answer)") from err


def _first_line(stderr: bytes, path: Path) -> str:
    """ffmpeg's last error line, without the server's temp path."""
    text = stderr.decode("utf-8", "replace").replace(str(path), "file").strip()
    return (text.splitlines() or ["unknown error"])[-1][:200]


def _decoded_seconds(path: Path) -> float:
    """Decode the first audio stream to the end, failing on any error; seconds of audio it holds."""
    cmd = ["ffmpeg", "-nostdin", "-v", "error", "-xerror", "-i", str(path), "-map", "0:a:0",
           "-f", "s16le", "-ac", "1", "-ar", str(DECODE_RATE), "pipe:1"]
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        total = 0
        try:
            while block := proc.stdout.read(1 << 20):
                total += len(block)
                if total > MAX_AUDIO_S * DECODE_RATE * 2 * 1.01:
                    proc.kill()
                    raise MediaError(f"Âm thanh dài quá {MAX_AUDIO_S / 3600:.0f} giờ (audio longer than "
                                     f"{MAX_AUDIO_S:.0f} s)")
            stderr = proc.stderr.read(64 * 1024)
            code = proc.wait(timeout=DECODE_TIMEOUT_S)
        finally:
            if proc.poll() is None:
                proc.kill()
    if code != 0 or stderr.strip():
        raise MediaError(f"Tệp âm thanh hỏng, không giải mã trọn được (audio does not decode cleanly): "
                         f"{_first_line(stderr, path)}")
    return total / (DECODE_RATE * 2)


def wav_claimed_seconds(path: Path) -> float:
    """The duration a WAV header states, after checking its chunks fill the file exactly."""
    size = path.stat().st_size
    with open(path, "rb") as fh:
        head = fh.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            raise MediaError("Không phải tệp WAV (no RIFF/WAVE header)")
        riff = int.from_bytes(head[4:8], "little")
        if riff + 8 not in (size, size - 1):
            raise MediaError(f"Phần đầu WAV khai sai độ dài: {riff + 8} byte, tệp có {size} (the WAV header "
                             f"claims {riff + 8} bytes, the file has {size})")
        pos, byte_rate, data_bytes = 12, 0, None
        while pos + 8 <= size:
            fh.seek(pos)
            header = fh.read(8)
            chunk, length = header[:4], int.from_bytes(header[4:8], "little")
            if pos + 8 + length > size:
                raise MediaError(f"Phần đầu WAV khai {length} byte cho '{chunk.decode('latin-1')}' nhưng tệp chỉ còn "
                                 f"{size - pos - 8} (the WAV header claims more data than the file holds)")
            if chunk == b"fmt ":
                fmt = fh.read(min(length, 16))
                byte_rate = int.from_bytes(fmt[8:12], "little") if len(fmt) >= 12 else 0
            elif chunk == b"data":
                data_bytes = length
            pos += 8 + length + (length & 1)
    if size - pos > 1:  # one stray pad byte is tolerated
        raise MediaError("Tệp WAV có dữ liệu thừa sau các khối (bytes after the last WAV chunk)")
    if data_bytes is None or byte_rate <= 0:
        raise MediaError("Tệp WAV thiếu khối fmt hoặc data (WAV without fmt or data chunk)")
    return data_bytes / byte_rate


def _ogg_complete(path: Path) -> bool:
    """The last Ogg page carries the end-of-stream flag (a cut file ends without it)."""
    size = path.stat().st_size
    with open(path, "rb") as fh:
        fh.seek(max(0, size - 70_000))  # a page is at most 65 307 bytes
        tail = fh.read()
    at = tail.rfind(b"OggS")
    return at >= 0 and len(tail) > at + 5 and bool(tail[at + 5] & 0x04)


def check_audio(path: Path, fmt: str) -> AudioFacts:
    """Facts of a whole, honest audio file of type ``fmt``; :class:`MediaError` otherwise."""
    info = _probe(path)
    names = set(str(info.get("format", {}).get("format_name", "")).split(","))
    if not names & FORMAT_NAMES[fmt]:
        raise MediaError(f"Tệp không phải {fmt.upper()} mà là {'/'.join(sorted(names)) or '?'} (the content is not "
                         f"{fmt}; send the right Content-Type)")
    audio = [s for s in info.get("streams", []) if s.get("codec_type") == "audio"]
    if not audio:
        raise MediaError("Tệp không có luồng âm thanh (no audio stream)")
    claimed = wav_claimed_seconds(path) if fmt == "wav" else _float(info.get("format", {}).get("duration"))
    if fmt in ("ogg", "opus") and not _ogg_complete(path):
        raise MediaError("Tệp Ogg bị cắt: thiếu trang kết thúc (the Ogg stream has no end-of-stream page: cut short)")
    if claimed is not None and claimed > MAX_AUDIO_S * 1.01:
        raise MediaError(f"Âm thanh dài quá {MAX_AUDIO_S / 3600:.0f} giờ (audio longer than {MAX_AUDIO_S:.0f} s)")
    decoded = _decoded_seconds(path)
    if decoded < MIN_AUDIO_S:
        raise MediaError(f"Âm thanh quá ngắn: {decoded:.2f} s (audio shorter than {MIN_AUDIO_S} s)")
    if claimed is not None and abs(claimed - decoded) > max(DURATION_TOLERANCE_S, DURATION_TOLERANCE * decoded):
        raise MediaError(f"Phần đầu tệp khai {claimed:.1f} s nhưng dữ liệu chỉ có {decoded:.1f} s (the header "
                         f"claims {claimed:.1f} s, the data holds {decoded:.1f} s: cut or forged)")
    return AudioFacts(fmt, str(audio[0].get("codec_name", "")), round(decoded, 3))


def _float(value: object) -> float | None:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def check_jpeg(path: Path) -> tuple[int, int]:
    """(width, height) of a complete JPEG that decodes without error; :class:`MediaError` otherwise."""
    size = path.stat().st_size
    with open(path, "rb") as fh:
        head = fh.read(3)
        fh.seek(max(0, size - 64))
        tail = fh.read().rstrip(b"\x00")
    if head != b"\xff\xd8\xff":
        raise MediaError("Nội dung không phải ảnh JPEG (body is not a JPEG: must start with FF D8 FF)")
    if not tail.endswith(b"\xff\xd9"):
        raise MediaError("Ảnh JPEG bị cắt: thiếu dấu kết thúc FF D9 (the JPEG is cut short: no end-of-image marker)")
    try:
        info = _probe(path)
    except MediaError as err:
        raise MediaError(f"Ảnh JPEG hỏng (not a decodable JPEG): {err}") from err
    streams = [s for s in info.get("streams", []) if s.get("codec_name") == "mjpeg"]
    width, height = (int(streams[0].get("width") or 0), int(streams[0].get("height") or 0)) if streams else (0, 0)
    if not (0 < width <= MAX_JPEG_SIDE and 0 < height <= MAX_JPEG_SIDE):
        raise MediaError(f"Ảnh JPEG có kích thước không hợp lệ (JPEG size {width}x{height})")
    proc = _run(["ffmpeg", "-nostdin", "-v", "error", "-xerror", "-i", str(path), "-f", "null", "-"], PROBE_TIMEOUT_S)
    if proc.returncode != 0 or proc.stderr.strip():
        raise MediaError(f"Ảnh JPEG hỏng (the JPEG does not decode cleanly): {_first_line(proc.stderr, path)}")
    return width, height
