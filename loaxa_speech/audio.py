"""Audio processing with pydub: decode, loudness normalisation, chime, repeat, join without clicks.

Shared by the node (everything the loudspeaker plays goes through :func:`render`) and HQ (which
renders a bulletin once with the same code, so both sound alike): decoded audio (WAV from espeak, MP3
from gTTS or HQ) is brought to one sample format, normalised to a target RMS level with a peak limit,
optionally framed by a chime (generated when no chime file is configured), repeated with a gap, and
exported as one WAV for the sink. Joins use short fades at every boundary, so neither a TTS chunk
edge nor a repeat makes a click through a 100 W horn.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pydub import AudioSegment
from pydub.exceptions import CouldntDecodeError
from pydub.generators import Sine

MIN_PLAUSIBLE_S = 0.2
FADE_MS = 8
PEAK_CEILING_DBFS = -1.0


class AudioError(ValueError):
    """Audio is empty, undecodable or implausibly short: never cached, never played."""


@dataclass(frozen=True)
class RenderOptions:
    target_dbfs: float = -16.0
    sample_rate: int = 22050
    channels: int = 1
    chime_before: bool = False
    chime_after: bool = False
    chime_file: Path | None = None
    repeat: int = 1
    repeat_gap_s: float = 2.0
    chunk_gap_ms: int = 200


def decode(data: bytes, fmt: str | None = None) -> AudioSegment:
    """Decode audio bytes (WAV natively, anything else through ffmpeg); :class:`AudioError` if bad."""
    if len(data) < 64:
        raise AudioError(f"audio is {len(data)} bytes")
    kind = fmt or ("wav" if data[:4] == b"RIFF" else None)
    try:
        seg = AudioSegment.from_file(io.BytesIO(data), format=kind)
    except (CouldntDecodeError, IndexError, ValueError, OSError) as err:
        raise AudioError(f"cannot decode audio ({fmt or 'auto'}): {str(err)[:200]}") from err
    if seg.duration_seconds < MIN_PLAUSIBLE_S:
        raise AudioError(f"audio lasts {seg.duration_seconds:.3f}s: implausibly short")
    return seg


def check_audio(data: bytes, fmt: str | None = None) -> float:
    """Duration in seconds of valid audio; raises :class:`AudioError` otherwise."""
    return decode(data, fmt).duration_seconds


def make_chime(sample_rate: int = 22050) -> AudioSegment:
    """A two-tone 'ding-dong' (G5 → E5), soft attack and long release, ~1.2 s."""
    ding = Sine(784, sample_rate=sample_rate).to_audio_segment(duration=450, volume=-8).fade_in(10).fade_out(300)
    dong = Sine(659, sample_rate=sample_rate).to_audio_segment(duration=750, volume=-8).fade_in(10).fade_out(600)
    return ding + dong


def normalise_loudness(seg: AudioSegment, target_dbfs: float) -> AudioSegment:
    if seg.rms == 0:
        return seg
    out = seg.apply_gain(target_dbfs - seg.dBFS)
    if out.max_dBFS > PEAK_CEILING_DBFS:  # a limiter would be better; a gain cut never clips
        out = out.apply_gain(PEAK_CEILING_DBFS - out.max_dBFS)
    return out


def _shape(seg: AudioSegment, opts: RenderOptions) -> AudioSegment:
    return seg.set_frame_rate(opts.sample_rate).set_channels(opts.channels).set_sample_width(2)


def join(parts: Sequence[AudioSegment], gap_ms: int) -> AudioSegment:
    """Concatenate with a fade at each edge and a silence between: no discontinuity, no click."""
    out: AudioSegment | None = None
    for part in parts:
        faded = part.fade_in(FADE_MS).fade_out(FADE_MS)
        if out is None:
            out = faded
        else:
            out = out + AudioSegment.silent(gap_ms, frame_rate=part.frame_rate).set_channels(part.channels) + faded
    if out is None:
        raise AudioError("nothing to join")
    return out


def render(parts: Sequence[AudioSegment], opts: RenderOptions) -> AudioSegment:
    """Speech/audio parts → the programme item as it will leave the amplifier."""
    body = normalise_loudness(join([_shape(p, opts) for p in parts], opts.chunk_gap_ms), opts.target_dbfs)
    if opts.chime_before or opts.chime_after:
        chime = _shape(AudioSegment.from_file(opts.chime_file) if opts.chime_file else make_chime(opts.sample_rate),
                       opts)
        chime = normalise_loudness(chime, opts.target_dbfs - 3)
        pieces = [chime] if opts.chime_before else []
        pieces.append(body)
        if opts.chime_after:
            pieces.append(chime)
        body = join(pieces, 300)
    if opts.repeat > 1:
        body = join([body] * opts.repeat, int(opts.repeat_gap_s * 1000))
    return body


def to_wav(seg: AudioSegment) -> bytes:
    buf = io.BytesIO()
    seg.export(buf, format="wav")
    return buf.getvalue()
